"""training/train.py on the user's own data (own_images.yaml, own_bag.yaml): mixed image sizes train and are
counted; every kind of bad input is one line on stderr, exit status 2, no checkpoint, the data untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from camera_bags import smooth_frames, write_camera_bag
from PIL import Image
from test_train_helpers import REPO, quick_overrides

from fusionvae_core.training import CHECKPOINT_FILE
from fusionvae_ros.bag.make_bag import CameraTiming, MakeBagOptions, make_bag
from training.train import main

pytestmark = pytest.mark.slow

OWN_IMAGES = REPO / "training" / "configs" / "own_images.yaml"
OWN_BAG = REPO / "training" / "configs" / "own_bag.yaml"
BAG_TOPICS = "[/camera_0/image_raw,/camera_1/image_raw]"


def own_run(config: Path, run_dir: Path, data_root: Path, *extra: str) -> list[str]:
    """train.py arguments: `config` shrunk to the tiny preset at 16x16 RGB, 2 steps of 4 images, no workers."""
    overrides = quick_overrides(
        2,
        batch_size=4,
        model__preset="tiny",
        model__image_size=16,
        budget__epochs="null",
        data__num_workers=0,
        data__cache_dir=run_dir.parent / "cache",
    )
    sets = [part for item in [*overrides, *extra] for part in ("--set", item)]
    return ["--config", str(config), "--run-dir", str(run_dir), "--data-root", str(data_root), *sets]


def write_images(root: Path, sizes: list[tuple[int, int]]) -> None:
    """One smooth RGB PNG per (width, height)."""
    root.mkdir(parents=True, exist_ok=True)
    for i, (width, height) in enumerate(sizes):
        Image.fromarray(smooth_frames(1, height, width, seed=i)[0]).save(root / f"{i:03d}.png")


def test_mixed_sizes_are_resized_counted_and_trained_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "images"
    write_images(root, [(40 + 8 * (i % 3), 30 + 6 * (i % 2)) for i in range(40)])
    (root / "cut.png").write_bytes((root / "000.png").read_bytes()[:50])
    assert main(own_run(OWN_IMAGES, tmp_path / "run", root)) == 0
    out = capsys.readouterr().out
    assert f"image_folder {root}: 40 images, 6 sizes (most: " in out and "1 unreadable skipped: cut.png" in out
    assert (tmp_path / "run" / CHECKPOINT_FILE).is_file()


def _unreadable(root: Path) -> None:
    root.mkdir()
    (root / "a.jpg").write_bytes(b"\xff\xd8\xff garbage")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "images: no such folder (data.data_root of image_folder: a folder with .png, .jpg"),
        (lambda root: root.mkdir(), "images: no images found (looked for .png, .jpg, .jpeg, .bmp, .tif, .tiff"),
        (_unreadable, "images: none of the 1 image files can be read; 1 unreadable skipped: a.jpg"),
        (lambda root: write_images(root, [(20, 20)] * 3), "3 images leave the 'val' split empty"),
    ],
    ids=["missing", "empty", "unreadable", "too_few"],
)
def test_bad_image_folders_fail_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, message: str
) -> None:
    root = tmp_path / "images"
    make(root)  # type: ignore[operator]
    before = sorted(root.rglob("*")) if root.exists() else None
    assert main(own_run(OWN_IMAGES, tmp_path / "run", root)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("train.py: error: ") and message in err, err
    assert not (tmp_path / "run" / CHECKPOINT_FILE).exists()
    assert (sorted(root.rglob("*")) if root.exists() else None) == before


@pytest.fixture(scope="module")
def camera_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = smooth_frames(8, 24, 32, seed=0)
    streams = {"/camera_0/image_raw": ("bgr8", frames), "/status": ("text", frames)}
    return write_camera_bag(tmp_path_factory.mktemp("bag") / "lab", streams)


def _corrupt_copy(bag: Path, root: Path) -> None:
    shutil.copytree(bag, root)
    storage = next(root.glob("*.mcap"))
    storage.write_bytes(storage.read_bytes()[:1500])


@pytest.mark.parametrize(
    ("make", "topics", "message"),
    [
        (
            lambda bag, root: shutil.copytree(bag, root),
            BAG_TOPICS,
            "no topic /camera_1/image_raw (data.topics); the bag has: /camera_0/image_raw (sensor_msgs/msg/Image), "
            "/status (std_msgs/msg/String)",
        ),
        (
            lambda bag, root: shutil.copytree(bag, root),
            "[/status]",
            "topic /status is std_msgs/msg/String, not sensor_msgs/Image or CompressedImage",
        ),
        (_corrupt_copy, BAG_TOPICS, "unreadable bag, damaged or not rosbag2"),
    ],
    ids=["missing_topic", "wrong_type", "corrupt"],
)
def test_bad_bags_fail_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], camera_bag: Path, make: object, topics: str, message: str
) -> None:
    root = tmp_path / "bag"
    make(camera_bag, root)  # type: ignore[operator]
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    assert main(own_run(OWN_BAG, tmp_path / "run", root, f"data.topics={topics}")) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("train.py: error: ") and message in err, err
    assert not (tmp_path / "run" / CHECKPOINT_FILE).exists()
    assert {path: path.read_bytes() for path in root.rglob("*") if path.is_file()} == before


def test_options_of_another_dataset_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(own_run(OWN_IMAGES, tmp_path / "run", tmp_path, "data.frame_stride=5")) == 2
    err = capsys.readouterr().err
    assert "data.frame_stride: is not an option of dataset image_folder" in err
    assert not list(tmp_path.rglob("*.pt"))


def test_a_bag_of_already_occluded_views_trains_against_its_ground_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # make-bag writes occluded digits on /camera_N/image_raw and the clean digit on /ground_truth/image.
    options = MakeBagOptions(num_sets=40, timing=CameraTiming(rate_hz=2.0))
    summary = make_bag(tmp_path / "sim", options)
    complete = sum(k == 3 for k in summary.set_ks)
    paired = [
        "data.target_topic=/ground_truth/image",
        "data.occlusion=none",
        "model.channels=1",
        "data.val_fraction=0.3",
    ]
    assert main(own_run(OWN_BAG, tmp_path / "run", tmp_path / "sim", "data.frame_stride=1", *paired)) == 0
    out = capsys.readouterr().out
    assert f"rosbag: {complete} /ground_truth/image frames paired with views of /camera_0/image_raw" in out
    assert f"{40 - complete} without every view within 50 ms dropped" in out
    assert (tmp_path / "run" / CHECKPOINT_FILE).is_file()
