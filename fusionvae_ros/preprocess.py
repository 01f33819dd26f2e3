"""Bring camera views to the model's square resolution: plain resize or centre crop then resize (INTER_AREA).

Outputs stay at the model resolution (the node publishes hypotheses, mean and uncertainty at that size):
upscaling would only interpolate, never add detail, and consumers can resize cheaply if they must.
"""

from __future__ import annotations

import cv2
import numpy as np

RESIZE_MODES = ("resize", "center_crop")


def center_square(pixels: np.ndarray) -> np.ndarray:
    """The largest centred square of an [H, W, C] image (a view, no copy)."""
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return pixels[top : top + side, left : left + side]


def fit_to_model(pixels: np.ndarray, size: int, mode: str = "resize") -> np.ndarray:
    """Resize [H, W, C] uint8 pixels to [size, size, C]; ``mode`` 'center_crop' keeps the aspect ratio.

    'resize' squeezes the whole field of view into the square (aspect ratio not kept); both use INTER_AREA,
    which averages source pixels (no aliasing when shrinking camera frames to the model size).
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got '{mode}'")
    if mode == "center_crop":
        pixels = center_square(pixels)
    if pixels.shape[:2] == (size, size):
        return np.ascontiguousarray(pixels)
    resized = cv2.resize(np.ascontiguousarray(pixels), (size, size), interpolation=cv2.INTER_AREA)
    return resized.reshape(size, size, pixels.shape[2])


def stack_views(views: list[np.ndarray]) -> np.ndarray:
    """Stack K model-sized [H, W, C] views into the backend's uint8 [1, K, H, W, C] batch."""
    return np.stack(views)[np.newaxis]
