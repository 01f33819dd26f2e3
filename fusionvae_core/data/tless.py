"""FusionT-LESS targets and class split (paper sec. 5.1) from T-LESS in the BOP layout.

Layout: `<root>/train_primesense/<obj_id:06d>/rgb/<im_id:06d>.png` (also accepted under `<root>/tless/`): the real
Primesense training images, one object per folder (folder name = object id; 1,296 images, 648 for objects 19
and 20). Targets are all images of objects 19–24, resized to 64×64 RGB. In each object's sorted image list the
10th, 20th, … image (position % 10 == 9) is held out for evaluation: "val" and "test" are both this held-out
set (the paper has one evaluation set), "train" is the rest. Training targets get a random flip, rotation,
scale and shift (sec. 5.2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.image_files import read_rgb, resize_area, to_chw_float
from fusionvae_core.data.warp import RandomWarp

TLESS_TRAIN_DIR = "train_primesense"
TLESS_TARGET_OBJECTS = (19, 20, 21, 22, 23, 24)
TLESS_TRAIN_OCCLUDER_OBJECTS = (1, 2, 5, 6, 7, 11, 12, 13, 14, 25, 26, 27)
TLESS_EVAL_OCCLUDER_OBJECTS = (3, 4, 8, 9, 10, 15, 16, 17, 18, 28, 29, 30)
TLESS_HELD_OUT_EVERY = 10
TLESS_IMAGE_SIZE = 64
TLESS_TARGET_WARP = RandomWarp(
    flip_probability=0.5, max_rotation_deg=180.0, scale_low=0.9, scale_high=1.1, max_shift_fraction=1 / 16
)


def layout_message(root: Path) -> str:
    """The message for a data root that does not hold T-LESS in the BOP layout."""
    return (
        f"{root}: no T-LESS training images found. Expected the BOP layout: "
        f"{root}/{TLESS_TRAIN_DIR}/<obj_id, 6 digits>/rgb/<im_id, 6 digits>.png (or {root}/tless/{TLESS_TRAIN_DIR}/…) "
        f"with the objects {TLESS_TARGET_OBJECTS[0]}–{TLESS_TARGET_OBJECTS[-1]} as targets."
    )


def find_train_dir(root: Path) -> Path:
    """The `train_primesense` folder under `root` (or `root/tless`); DatasetError naming the layout otherwise."""
    for candidate in (root / TLESS_TRAIN_DIR, root / "tless" / TLESS_TRAIN_DIR):
        if candidate.is_dir():
            return candidate
    raise DatasetError(layout_message(root))


def object_images(train_dir: Path, obj_id: int) -> list[Path]:
    """Sorted RGB image files of one object; DatasetError if the object's folder is missing or empty."""
    rgb_dir = train_dir / f"{obj_id:06d}" / "rgb"
    images = sorted(rgb_dir.glob("*.png"))
    if not images:
        raise DatasetError(f"{rgb_dir}: no images of T-LESS object {obj_id} (expected rgb/<im_id, 6 digits>.png)")
    return images


def is_held_out(position: int) -> bool:
    """Whether the image at this position of an object's sorted list is held out for evaluation."""
    return position % TLESS_HELD_OUT_EVERY == TLESS_HELD_OUT_EVERY - 1


def target_files(root: Path, split: str) -> list[Path]:
    """Target image files of `split`: held-out images for "val"/"test", the others for "train"."""
    train_dir = find_train_dir(root)
    want_held_out = split != "train"
    return [
        path
        for obj_id in TLESS_TARGET_OBJECTS
        for position, path in enumerate(object_images(train_dir, obj_id))
        if is_held_out(position) == want_held_out
    ]


class TLessSource:
    """FusionT-LESS targets of one split, decoded and resized to 64×64 on demand; warped randomly in training."""

    channels = 3
    image_size = TLESS_IMAGE_SIZE

    def __init__(self, root: Path, split: str) -> None:
        """List the target files of `split` under `root`."""
        self.files = target_files(root, split)

    def __len__(self) -> int:
        """Number of target images."""
        return len(self.files)

    def target(self, index: int, augment_rng: np.random.Generator | None) -> np.ndarray:
        """Target `index` as float32 [3,64,64]; randomly flipped, rotated, scaled and shifted in training."""
        image = resize_area(read_rgb(self.files[index]), TLESS_IMAGE_SIZE)
        if augment_rng is not None:
            image = TLESS_TARGET_WARP.apply(image, augment_rng, TLESS_IMAGE_SIZE)
        return to_chw_float(image)
