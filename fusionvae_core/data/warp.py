"""Random flip / rotation / scale / shift of an image patch onto a square black canvas (FusionT-LESS, sec. 5.2)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def warp_onto_canvas(
    image: np.ndarray, canvas_size: int, centre_xy: tuple[float, float], angle_deg: float, scale: float, flip: bool
) -> np.ndarray:
    """Mirror (if `flip`), rotate by `angle_deg`, scale and move `image` [h,w,C] so its centre lands on `centre_xy`
    of a black canvas [canvas_size, canvas_size, C] (bilinear, same dtype)."""
    if flip:
        image = image[:, ::-1]
    height, width = image.shape[:2]
    source_centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(source_centre, angle_deg, scale)
    matrix[0, 2] += centre_xy[0] - source_centre[0]
    matrix[1, 2] += centre_xy[1] - source_centre[1]
    warped = cv2.warpAffine(
        np.ascontiguousarray(image),
        matrix,
        (canvas_size, canvas_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return np.asarray(warped).reshape(canvas_size, canvas_size, image.shape[2])


@dataclass(frozen=True)
class RandomWarp:
    """Ranges of a random placement: flip probability, rotation ±max_rotation_deg, scale in [scale_low, scale_high],
    centre shifted from the canvas centre by up to ±max_shift_fraction of the canvas size per axis."""

    flip_probability: float = 0.5
    max_rotation_deg: float = 180.0
    scale_low: float = 1.0
    scale_high: float = 1.0
    max_shift_fraction: float = 0.0

    def apply(self, image: np.ndarray, rng: np.random.Generator, canvas_size: int) -> np.ndarray:
        """Place `image` [h,w,C] on a black canvas [canvas_size, canvas_size, C] with parameters drawn from `rng`."""
        flip = bool(rng.random() < self.flip_probability)
        angle = float(rng.uniform(-self.max_rotation_deg, self.max_rotation_deg))
        scale = float(rng.uniform(self.scale_low, self.scale_high))
        shift_x, shift_y = rng.uniform(-self.max_shift_fraction, self.max_shift_fraction, size=2) * canvas_size
        centre = (canvas_size - 1) / 2.0
        return warp_onto_canvas(image, canvas_size, (centre + shift_x, centre + shift_y), angle, scale, flip)
