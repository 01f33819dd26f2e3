"""image_folder dataset on a generated folder: mixed sizes/modes/extensions, truncated files skipped and named,
channels and framing, a hashed split that survives added files, the per-file check cache, robust workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fusionvae_core.data import DatasetError, build_dataset, make_loader
from fusionvae_core.data import image_folder as image_folder_module

MODES = ("L", "RGB", "RGBA")
EXTENSIONS = (".png", ".jpg", ".PNG", ".JPEG", ".bmp", ".tif")


def write_image(path: Path, size: tuple[int, int], mode: str, seed: int) -> None:
    """A smooth random image (JPEG-friendly) of `size` (width, height) in PIL `mode`."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(4, 4, len(mode)), dtype=np.uint8)
    image = Image.fromarray(small.squeeze(-1) if mode == "L" else small, mode).resize(size, Image.Resampling.BILINEAR)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB" if path.suffix.lower() in (".jpg", ".jpeg") and mode == "RGBA" else mode).save(path)


def write_folder(root: Path, count: int, start: int = 0) -> list[str]:
    """`count` images of mixed sizes, modes and extensions, some in sub-folders; returns their relative paths."""
    names = []
    for i in range(start, start + count):
        name = f"{'cam_b/' if i % 3 == 0 else ''}img_{i:03d}{EXTENSIONS[i % len(EXTENSIONS)]}"
        write_image(root / name, (24 + 9 * (i % 5), 20 + 7 * (i % 4)), MODES[i % len(MODES)], seed=i)
        names.append(name)
    return names


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    write_folder(root, 40)
    good = (root / "img_001.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(good[: len(good) // 2])  # truncated JPEG
    (root / "cam_b" / "broken.png").write_bytes((root / "cam_b" / "img_000.png").read_bytes()[:60])
    (root / "notes.txt").write_text("not an image")
    return root


def options(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"image_size": 32, "channels": 3, "cache_dir": str(tmp_path / "cache"), **extra}


def test_mixed_folder_gives_model_sized_items_and_names_the_skipped_files(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    splits = {
        split: build_dataset("image_folder", split, folder, seed=0, **options(tmp_path))
        for split in ("train", "val", "test")
    }
    line = capsys.readouterr().out.strip().splitlines()
    assert len(line) == 1  # one start-up line, not one per split
    assert "40 images" in line[0] and "20 sizes" in line[0]  # 5 widths × 4 heights
    assert "2 unreadable skipped: broken.jpg, cam_b/broken.png" in line[0]
    assert sum(len(dataset) for dataset in splits.values()) == 40
    assert all(len(dataset) > 0 for dataset in splits.values())
    train = splits["train"]
    assert (train.image_size, train.channels) == (32, 3)
    batch = next(iter(make_loader(train, batch_size=8, shuffle=True, num_workers=0, seed=0, fixed_k=3)))
    assert batch.views.shape == (8, 3, 3, 32, 32) and batch.target.shape == (8, 3, 32, 32)
    assert batch.target.dtype == torch.float32 and batch.target.min() >= 0.0 and batch.target.max() <= 1.0
    assert batch.target.std() > 0.05  # real picture content, not a constant fill
    grey = build_dataset("image_folder", "val", folder, seed=0, **options(tmp_path, channels=1, image_size=16))
    assert grey[0].target.shape == (1, 16, 16) and grey[0].views.shape == (3, 1, 16, 16)


def test_pixels_channels_and_resize_modes(tmp_path: Path) -> None:
    root = tmp_path / "stripes"
    stripes = np.zeros((30, 90, 3), dtype=np.uint8)
    stripes[:, :30] = (255, 0, 0)
    stripes[:, 30:60] = (0, 255, 0)
    stripes[:, 60:] = (0, 0, 255)
    root.mkdir()
    Image.fromarray(stripes).save(root / "stripes.png")
    common = options(tmp_path, image_size=30, val_fraction=0.0, test_fraction=0.0, occlusion="none")
    resized = build_dataset("image_folder", "train", root, **common, resize="resize")[0].target.numpy()
    np.testing.assert_allclose(resized[:, 15, 2], [1, 0, 0], atol=1e-6)  # the red third is squeezed into 0..9
    np.testing.assert_allclose(resized[:, 15, 27], [0, 0, 1], atol=1e-6)
    cropped = build_dataset("image_folder", "train", root, **common, resize="center_crop")[0].target.numpy()
    np.testing.assert_allclose(cropped, np.broadcast_to(np.array([0, 1, 0.0])[:, None, None], cropped.shape))
    grey = build_dataset("image_folder", "train", root, **(common | {"channels": 1}), resize="center_crop")
    assert grey[0].target.shape == (1, 30, 30)
    assert grey[0].target.numpy() == pytest.approx(round(0.587 * 255) / 255, abs=1 / 255)  # BT.601 green
    random = build_dataset("image_folder", "train", root, **common, resize="random_crop")
    draws = np.stack([random[0].target.numpy() for _ in range(20)])
    assert len({draw.tobytes() for draw in draws}) > 10
    assert draws[:, 0].max() == 1.0 and draws[:, 2].max() == 1.0  # squares anywhere along the long side
    np.testing.assert_allclose(draws.sum(axis=1), 1.0, atol=0.01)  # blends of the stripes only: no black border


def test_split_is_unchanged_by_adding_files(folder: Path, tmp_path: Path) -> None:
    def membership() -> dict[str, str]:
        return {
            name: split
            for split in ("train", "val", "test")
            for name in build_dataset("image_folder", split, folder, **options(tmp_path, split_seed=3)).source.names
        }

    before = membership()
    write_folder(folder, 25, start=100)
    after = membership()
    assert len(after) == len(before) + 25
    assert {name: after[name] for name in before} == before
    run_seed = build_dataset("image_folder", "val", folder, seed=9, **options(tmp_path, split_seed=3))
    assert set(run_seed.source.names) == {name for name, split in after.items() if split == "val"}
    other_seed = {
        name
        for name in build_dataset("image_folder", "val", folder, seed=3, **options(tmp_path, split_seed=4)).source.names
    }
    assert other_seed != {name for name, split in after.items() if split == "val"}


def test_checks_are_cached_per_file(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_dataset("image_folder", "train", folder, **options(tmp_path))
    probed: list[Path] = []
    real_probe = image_folder_module.probe_image
    monkeypatch.setattr(image_folder_module, "probe_image", lambda path: probed.append(path) or real_probe(path))
    again = build_dataset("image_folder", "train", folder, **options(tmp_path))
    assert probed == [] and again.source.names == first.source.names
    write_image(folder / "new.png", (30, 30), "RGB", seed=1)
    build_dataset("image_folder", "train", folder, **options(tmp_path))
    assert probed == [folder / "new.png"]


def test_a_file_damaged_after_start_up_does_not_kill_a_worker(folder: Path, tmp_path: Path) -> None:
    train = build_dataset("image_folder", "train", folder, **options(tmp_path))
    damaged = folder / train.source.names[0]
    damaged.write_bytes(b"garbage")
    loader = make_loader(train, batch_size=len(train), shuffle=False, num_workers=1, seed=0, fixed_k=1)
    batch = next(iter(loader))
    assert batch.target.shape[0] == len(train)
    torch.testing.assert_close(batch.target[0], batch.target[1])  # the damaged item is replaced by the next one


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "no such folder"),
        (lambda root: root.mkdir(), r"no images found \(looked for .png, .jpg"),
        (lambda root: (root.mkdir(), (root / "a.png").write_bytes(b"x")), "none of the 1 image files can be read"),
    ],
    ids=["missing", "empty", "unreadable"],
)
def test_unusable_folders_give_one_clear_error(tmp_path: Path, make: object, message: str) -> None:
    root = tmp_path / "data"
    make(root)  # type: ignore[operator]
    with pytest.raises(DatasetError, match=message):
        build_dataset("image_folder", "train", root, **options(tmp_path))


def test_too_few_images_for_the_split(tmp_path: Path) -> None:
    root = tmp_path / "few"
    write_folder(root, 2)
    with pytest.raises(DatasetError, match=r"2 images leave the 'val' split empty \(data.val_fraction = 0.1\)"):
        for split in ("train", "val", "test"):
            build_dataset("image_folder", split, root, **options(tmp_path))
