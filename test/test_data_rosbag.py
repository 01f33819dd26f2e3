"""rosbag dataset on real rosbag2 bags written here: Image (bgr8) and CompressedImage (JPEG, PNG) topics, MCAP and
sqlite3, folders of bags, stride, pixels vs the source arrays, the index cache, and one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from camera_bags import START_NS, smooth_frames, write_camera_bag

from fusionvae_core.data import DatasetError, FusionDataset, build_dataset, make_loader
from fusionvae_core.data import rosbag_frames as rosbag_module
from fusionvae_core.data.framing import scale_to

PERIOD_NS = 500_000_000  # 2 Hz: 40 frames span 20 one-second split blocks
FRAMES = smooth_frames(40, 96, 128, seed=0)
# Measured on these frames (q95 JPEG, decoded at 1/2 scale, then area-resized to 32²): max 2/255, mean 0.37/255.
JPEG_MAX_ERROR, JPEG_MEAN_ERROR = 4 / 255, 1 / 255


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    streams = {"/cam/image_raw": ("bgr8", FRAMES), "/cam/image_raw/compressed": ("jpeg", FRAMES)}
    return write_camera_bag(tmp_path_factory.mktemp("bags") / "camera", streams, period_ns=PERIOD_NS)


def frames_of(bag: Path, tmp_path: Path, split: str = "train", **options: object) -> FusionDataset:
    defaults = {"image_size": 32, "channels": 3, "cache_dir": str(tmp_path / "cache"), "occlusion": "none"}
    return build_dataset("rosbag", split, bag, seed=0, **(defaults | options))


def expected_target(frame: rosbag_module.Frame) -> np.ndarray:
    """The source array of a frame, resized like the dataset does, as float [3,32,32]."""
    source = FRAMES[(frame.log_time_ns - START_NS) // PERIOD_NS]
    return scale_to(source, 32).transpose(2, 0, 1).astype(np.float32) / 255


def test_length_with_stride_and_pixels_match_the_source(bag: Path, tmp_path: Path) -> None:
    everything = {"val_fraction": 0.0, "test_fraction": 0.0}
    raw = frames_of(bag, tmp_path, topics=["/cam/image_raw"], frame_stride=3, **everything)
    assert len(raw) == 14  # frames 0, 3, …, 39
    for index in range(len(raw)):
        np.testing.assert_array_equal(raw[index].target.numpy(), expected_target(raw.source.frames[index]))
    jpeg = frames_of(bag, tmp_path, topics=["/cam/image_raw/compressed"], frame_stride=3, **everything)
    assert len(jpeg) == 14
    errors = np.stack([np.abs(jpeg[i].target.numpy() - expected_target(jpeg.source.frames[i])) for i in range(14)])
    assert errors.max() <= JPEG_MAX_ERROR and errors.mean() <= JPEG_MEAN_ERROR
    both = frames_of(bag, tmp_path, frame_stride=3, **everything)  # default: every image topic
    assert len(both) == 28
    grey = frames_of(bag, tmp_path, topics=["/cam/image_raw"], channels=1, **everything)
    luminance = np.round(scale_to(FRAMES[0], 32) @ np.array([0.299, 0.587, 0.114]))[None] / 255
    np.testing.assert_allclose(grey[0].target.numpy(), luminance, atol=1 / 255 + 1e-6)


def test_splits_are_disjoint_by_second_and_load_in_workers(bag: Path, tmp_path: Path) -> None:
    splits = {split: frames_of(bag, tmp_path, split, occlusion=None) for split in ("train", "val", "test")}
    assert sum(len(s) for s in splits.values()) == 80 and all(len(s) for s in splits.values())
    seconds = {
        split: {frame.log_time_ns // 10**9 for frame in dataset.source.frames} for split, dataset in splits.items()
    }
    assert not seconds["train"] & seconds["val"] and not seconds["train"] & seconds["test"]
    loader = make_loader(splits["train"], batch_size=8, shuffle=True, num_workers=2, seed=0, fixed_k=2)
    batches = list(loader)
    assert sum(batch.target.shape[0] for batch in batches) == len(splits["train"])
    assert batches[0].views.shape == (8, 2, 3, 32, 32)
    assert not np.array_equal(batches[0].views[:, 0].numpy(), batches[0].target.numpy())  # windows applied


def test_sqlite3_png_and_folders_of_bags(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    write_camera_bag(folder / "day1", {"/cam/compressed": ("png", FRAMES[:10])}, storage="sqlite3", period_ns=PERIOD_NS)
    write_camera_bag(folder / "day2", {"/cam/compressed": ("png", FRAMES[10:16])}, period_ns=PERIOD_NS)
    dataset = frames_of(folder, tmp_path, val_fraction=0.0, test_fraction=0.0)
    assert len(dataset) == 16
    assert {frame.bag.name for frame in dataset.source.frames} == {"day1", "day2"}
    day1 = [i for i, frame in enumerate(dataset.source.frames) if frame.bag.name == "day1"]
    np.testing.assert_array_equal(dataset[day1[0]].target.numpy(), expected_target(dataset.source.frames[day1[0]]))


def test_index_is_cached_and_rebuilt_when_the_bag_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bag = write_camera_bag(tmp_path / "bag", {"/cam": ("bgr8", FRAMES[:6])}, period_ns=PERIOD_NS)
    assert len(frames_of(bag, tmp_path, val_fraction=0.0, test_fraction=0.0)) == 6
    opened: list[Path] = []
    real_open = rosbag_module.open_reader
    monkeypatch.setattr(rosbag_module, "open_reader", lambda path: opened.append(path) or real_open(path))
    frames_of(bag, tmp_path, val_fraction=0.0, test_fraction=0.0)
    assert opened == []  # the cached index served; no frame was read yet
    shutil.rmtree(bag)
    write_camera_bag(bag, {"/cam": ("bgr8", FRAMES[:9])}, period_ns=PERIOD_NS)
    assert len(frames_of(bag, tmp_path, val_fraction=0.0, test_fraction=0.0)) == 9
    assert opened == [bag]


def test_bad_bags_give_one_clear_error(bag: Path, tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match=r"no topic /cam/left.*the bag has: /cam/image_raw \(sensor_msgs/msg/Image\)"
    ):
        frames_of(bag, tmp_path, topics=["/cam/left"])
    text_bag = write_camera_bag(tmp_path / "text", {"/cam": ("bgr8", FRAMES[:2]), "/notes": ("text", FRAMES[:2])})
    with pytest.raises(DatasetError, match="topic /notes is std_msgs/msg/String, not sensor_msgs/Image"):
        frames_of(text_bag, tmp_path, topics=["/cam", "/notes"])
    with pytest.raises(DatasetError, match="no such bag or folder"):
        frames_of(tmp_path / "missing", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no rosbag2 bags found"):
        frames_of(tmp_path / "empty", tmp_path)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(bag, corrupt)
    storage = next(corrupt.glob("*.mcap"))
    storage.write_bytes(storage.read_bytes()[:2000])
    with pytest.raises(DatasetError, match=r"corrupt: (unreadable bag|bag is damaged)"):
        frames_of(corrupt, tmp_path)


def occluded(frame: np.ndarray, seed: int) -> np.ndarray:
    """`frame` with a black box at a random place (a camera view that is already occluded)."""
    rng = np.random.default_rng(seed)
    view = frame.copy()
    top, left = rng.integers(0, 48, size=2)
    view[top : top + 48, left : left + 64] = 0
    return view


def test_recorded_views_pair_with_a_target_topic(tmp_path: Path) -> None:
    views_0 = [occluded(frame, 2 * i) for i, frame in enumerate(FRAMES[:12])]
    views_1: list[np.ndarray | None] = [occluded(frame, 2 * i + 1) for i, frame in enumerate(FRAMES[:12])]
    views_1[5] = None  # camera 1 dropped frame 5: that set cannot be paired
    streams = {"/truth": ("bgr8", FRAMES[:12]), "/cam0": ("bgr8", views_0), "/cam1": ("jpeg", views_1)}
    bag = write_camera_bag(
        tmp_path / "sim", streams, period_ns=PERIOD_NS, offsets_ns={"/cam0": 3_000_000, "/cam1": -20_000_000}
    )
    paired = frames_of(
        bag,
        tmp_path,
        topics=["/cam0", "/cam1"],
        target_topic="/truth",
        occlusion=None,
        val_fraction=0.0,
        test_fraction=0.0,
    )
    assert len(paired) == 11
    for index in (0, 7):
        item = paired[index]
        number = (paired.source.frames[index].log_time_ns - START_NS) // PERIOD_NS
        np.testing.assert_array_equal(item.target.numpy(), expected_target(paired.source.frames[index]))
        assert item.views.shape == (3, 3, 32, 32)
        expected_view_0 = scale_to(views_0[number], 32).transpose(2, 0, 1) / 255
        np.testing.assert_allclose(item.views[0].numpy(), expected_view_0, atol=1e-6)
        expected_view_1 = scale_to(views_1[number], 32).transpose(2, 0, 1) / 255  # type: ignore[arg-type]
        assert np.abs(item.views[1].numpy() - expected_view_1).max() <= JPEG_MAX_ERROR
        np.testing.assert_array_equal(item.views[2].numpy(), item.views[0].numpy())  # 2 cameras: the 1st repeats
    with pytest.raises(DatasetError, match=r"with data.target_topic the bag's views are used as recorded: use none"):
        frames_of(bag, tmp_path, topics=["/cam0"], target_topic="/truth", occlusion="ellipse_windows")
    with pytest.raises(DatasetError, match="random_crop would crop the recorded views and the target differently"):
        frames_of(bag, tmp_path, topics=["/cam0"], target_topic="/truth", occlusion=None, resize="random_crop")
    with pytest.raises(DatasetError, match=r"no topic /gt \(data.topics\)"):
        frames_of(bag, tmp_path, topics=["/cam0"], target_topic="/gt", occlusion=None)
