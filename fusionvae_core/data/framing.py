"""Bringing a camera image of any size and aspect to the model's square size (`data.resize` of own data).

- `resize`: the whole image scaled to size×size (the aspect ratio is not kept).
- `center_crop`: the central square (side = the shorter side) scaled to size×size.
- `random_crop`: in training a random square of side 0.8–1.0 × the shorter side at a random position, scaled to
  size×size (a cheap zoom/shift augmentation); in evaluation it is `center_crop`, so val/test images are fixed.
Down-scaling uses INTER_AREA (anti-aliased), up-scaling INTER_LINEAR.
"""

from __future__ import annotations

import cv2
import numpy as np

RESIZE_MODES = ("resize", "center_crop", "random_crop")
RANDOM_CROP_SCALE = (0.8, 1.0)


def scale_to(image: np.ndarray, size: int) -> np.ndarray:
    """`image` [H,W,C] scaled to [size,size,C] (INTER_AREA down, INTER_LINEAR up)."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    interpolation = cv2.INTER_AREA if min(image.shape[:2]) >= size else cv2.INTER_LINEAR
    scaled = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interpolation)
    return np.asarray(scaled).reshape(size, size, image.shape[2])


def frame_image(image: np.ndarray, size: int, mode: str, rng: np.random.Generator | None) -> np.ndarray:
    """`image` [H,W,C] brought to [size,size,C] by `mode` (module docstring); `rng` None means evaluation."""
    if mode == "resize":
        return scale_to(image, size)
    height, width = image.shape[:2]
    side = min(height, width)
    if mode == "random_crop" and rng is not None:
        side = max(1, round(side * rng.uniform(*RANDOM_CROP_SCALE)))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
    else:
        top, left = (height - side) // 2, (width - side) // 2
    return scale_to(image[top : top + side, left : left + side], size)
