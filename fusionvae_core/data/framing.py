"""Bringing a camera image of any size and aspect to the model's square size: the one framing of training and serving.

- `resize`: the whole image scaled to size×size (the aspect ratio is not kept).
- `center_crop`: the central square (side = the shorter side) scaled to size×size.
- `random_crop`: in training a random square of side 0.8–1.0 × the shorter side at a random position, scaled to
  size×size (a cheap zoom/shift augmentation); in evaluation it is `center_crop`, so val/test images are fixed.
Down-scaling uses INTER_AREA (anti-aliased), up-scaling INTER_LINEAR. The training datasets (`data.resize`) and the
fusion node (`resize_mode`, evaluation mode: no rng) both call `frame_image`, so a model sees at serving time
exactly what it was trained on. numpy and OpenCV only: the node imports this without torch.
"""

from __future__ import annotations

import cv2
import numpy as np

FIXED_MODES = ("resize", "center_crop")  # the modes without randomness: what the node serves
RESIZE_MODES = (*FIXED_MODES, "random_crop")
RANDOM_CROP_SCALE = (0.8, 1.0)


def scale_to(image: np.ndarray, size: int) -> np.ndarray:
    """`image` [H,W,C] scaled to [size,size,C] (INTER_AREA down, INTER_LINEAR up)."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    interpolation = cv2.INTER_AREA if min(image.shape[:2]) >= size else cv2.INTER_LINEAR
    scaled = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interpolation)
    return np.asarray(scaled).reshape(size, size, image.shape[2])


def center_square(image: np.ndarray) -> np.ndarray:
    """The largest centred square of an [H,W,C] image (a view, no copy)."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top : top + side, left : left + side]


def frame_image(
    image: np.ndarray, size: int, mode: str = "resize", rng: np.random.Generator | None = None
) -> np.ndarray:
    """`image` [H,W,C] brought to [size,size,C] by `mode` (module docstring); `rng` None means evaluation."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got '{mode}'")
    if mode == "resize":
        return scale_to(image, size)
    if mode == "center_crop" or rng is None:
        return scale_to(center_square(image), size)
    height, width = image.shape[:2]
    side = max(1, round(min(height, width) * rng.uniform(*RANDOM_CROP_SCALE)))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    return scale_to(image[top : top + side, left : left + side], size)
