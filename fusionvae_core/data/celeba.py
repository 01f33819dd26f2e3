"""FusionCelebA targets: aligned CelebA images cropped to rows 40:188 × cols 15:163 and resized to 64×64.

Expected layout under the data root (the official one, or torchvision's `celeba/` sub-folder):
`img_align_celeba/*.jpg` and optionally `list_eval_partition.txt` (lines "000001.jpg 0"; 0 train, 1 val,
2 test; also looked up in `Eval/`). Without the partition file the sorted images are split by position:
i % 10 == 8 → val, i % 10 == 9 → test, the rest → train. Training flips horizontally with probability 1/2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.image_files import read_rgb, resize_area, to_chw_float

CELEBA_CROP_ROWS = (40, 188)
CELEBA_CROP_COLS = (15, 163)
CELEBA_IMAGE_SIZE = 64
CELEBA_IMAGE_DIR = "img_align_celeba"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"
_PARTITION_CODES = {"train": "0", "val": "1", "test": "2"}
_POSITION_SPLIT = {8: "val", 9: "test"}


def layout_message(root: Path) -> str:
    """The message for a data root that does not hold aligned CelebA."""
    return (
        f"{root}: no aligned CelebA images found. Expected layout: {root}/{CELEBA_IMAGE_DIR}/*.jpg "
        f"(or {root}/celeba/{CELEBA_IMAGE_DIR}/*.jpg), optionally with {CELEBA_PARTITION_FILE} next to it."
    )


def _find_base(root: Path) -> Path:
    for base in (root, root / "celeba"):
        if (base / CELEBA_IMAGE_DIR).is_dir():
            return base
    raise DatasetError(layout_message(root))


def _read_partition(path: Path) -> dict[str, str]:
    partition = {}
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in _PARTITION_CODES.values():
            raise DatasetError(f"{path}:{line_number}: expected '<file name> <0|1|2>', got {line!r}")
        partition[fields[0]] = fields[1]
    return partition


def celeba_files(root: Path, split: str) -> list[Path]:
    """Sorted image files of `split` (partition file if present, else the position rule above)."""
    base = _find_base(root)
    images = sorted((base / CELEBA_IMAGE_DIR).glob("*.jpg"))
    if not images:
        raise DatasetError(layout_message(root))
    for partition_path in (base / CELEBA_PARTITION_FILE, base / "Eval" / CELEBA_PARTITION_FILE):
        if partition_path.is_file():
            partition = _read_partition(partition_path)
            return [path for path in images if partition.get(path.name) == _PARTITION_CODES[split]]
    return [path for i, path in enumerate(images) if _POSITION_SPLIT.get(i % 10, "train") == split]


def crop_and_resize(image: np.ndarray) -> np.ndarray:
    """Aligned CelebA image uint8 [218,178,3] → the 148×148 face crop resized to 64×64 (INTER_AREA)."""
    (top, bottom), (left, right) = CELEBA_CROP_ROWS, CELEBA_CROP_COLS
    if image.shape[0] < bottom or image.shape[1] < right:
        raise DatasetError(
            f"image is {image.shape[0]}×{image.shape[1]} pixels; aligned CelebA images are 218×178 "
            f"(rows ≥ {bottom}, cols ≥ {right} are needed for the crop)"
        )
    return resize_area(image[top:bottom, left:right], CELEBA_IMAGE_SIZE)


class CelebASource:
    """Aligned CelebA targets of one split, decoded on demand (RGB, 64×64)."""

    channels = 3
    image_size = CELEBA_IMAGE_SIZE

    def __init__(self, root: Path, split: str) -> None:
        """List the image files of `split` under `root`."""
        self.files = celeba_files(root, split)

    def __len__(self) -> int:
        """Number of images."""
        return len(self.files)

    def target(self, index: int, augment_rng: np.random.Generator | None) -> np.ndarray:
        """Cropped, resized image `index` as float32 [3,64,64]; flipped horizontally half the time in training."""
        path = self.files[index]
        image = read_rgb(path)
        try:
            image = crop_and_resize(image)
        except DatasetError as error:
            raise DatasetError(f"{path}: {error}") from None
        if augment_rng is not None and augment_rng.random() < 0.5:
            image = image[:, ::-1]
        return to_chw_float(image)
