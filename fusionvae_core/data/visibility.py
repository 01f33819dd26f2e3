"""Visibility labels: per view and pixel, whether the view shows the scene there (1) or not (0).

The model's visibility head is trained on these (BCE next to the ELBO) and the object/hidden-pixel metrics use
them. Every source of views knows its labels: ellipse windows are visible inside the windows, pasted occluders
hide what their alpha covers, rendered scenes compare segmentation and pixels with the clean render, and recorded
views (a bag's `target_topic`) are visible where they agree with the recorded target (`agreement_visibility`).
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

#: Mean absolute difference (in [0, 1] units, over a small window) under which a recorded view agrees with its target.
AGREEMENT_TOLERANCE = 0.08
AGREEMENT_WINDOW = 3  # pixels: the difference is averaged over this square so sensor/JPEG noise does not flicker


class MadeViews(NamedTuple):
    """Views of one target and their labels: `views` float32 [V,C,H,W] in [0,1], `visibility` float32 [V,H,W]
    in [0,1] (1 = the view shows the scene at that pixel; soft where an occluder's alpha is partial)."""

    views: np.ndarray
    visibility: np.ndarray


def agreement_visibility(views: np.ndarray, target: np.ndarray) -> np.ndarray:
    """float32 [V,H,W]: 1 where a view [V,C,H,W] agrees with the target [C,H,W] (module constants), else 0."""
    difference = np.abs(views - target[None]).max(axis=1).astype(np.float32)
    smoothed = np.stack([cv2.blur(plane, (AGREEMENT_WINDOW, AGREEMENT_WINDOW)) for plane in difference])
    return (smoothed <= AGREEMENT_TOLERANCE).astype(np.float32)


def hidden_pixels(visibility: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """bool [..., H, W]: pixels that no view shows (visibility [..., K, H, W] below `threshold` in every view)."""
    return np.asarray((visibility < threshold).all(axis=-3))
