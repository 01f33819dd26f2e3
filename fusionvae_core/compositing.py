"""Compositing: keep what the cameras see, take the model's hypothesis only for what they hide.

Given K views and their per-pixel visibility v_k in [0, 1] (the model's prediction, or labels), the views' colour
is their visibility-weighted average c = Σ v_k x_k / Σ v_k and their coverage α = 1 − Π (1 − v_k) (the probability
that at least one view shows the pixel). A composite of an image y is α·c + (1 − α)·y: the view's own pixels where a
view shows the scene (soft-blended at the edges), the hypothesis elsewhere. The hypotheses' spread is scaled by
(1 − α) the same way, so the uncertainty is ~0 where a view shows the scene.

Arrays are channel-last numpy (images [..., H, W, C], visibility [K, H, W]). uint8 images (the node's, at camera
resolution) go through OpenCV's blendLinear, a few milliseconds for 640×480; float images (evaluation) through
exact numpy arithmetic. Both give the view where α = 1 and the hypothesis where α = 0 (uint8: after rounding).
No torch: the node composites with this module.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np


class ViewBlend(NamedTuple):
    """What the views contribute to every composite of one set: `colour` [H,W,C] (their visibility-weighted mean,
    in the views' dtype) and `coverage` float32 [H,W] (α, the chance that some view shows the pixel)."""

    colour: np.ndarray
    coverage: np.ndarray


def upsample_visibility(visibility: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Visibility [K,h,w] resized (bilinear) to (width, height) = `size`: float32 [K,height,width]."""
    maps = np.asarray(visibility, dtype=np.float32)
    if maps.shape[2:0:-1] == size:
        return maps
    return np.stack([cv2.resize(plane, size, interpolation=cv2.INTER_LINEAR) for plane in maps])


def blend_views(views: np.ndarray, visibility: np.ndarray) -> ViewBlend:
    """The ViewBlend of views [K,H,W,C] (uint8 or float) with visibility [K,H,W] in [0, 1]."""
    if views.ndim != 4 or visibility.shape != views.shape[:3]:
        raise ValueError(f"blend_views: views [K,H,W,C] and visibility [K,H,W], got {views.shape}, {visibility.shape}")
    weights = np.clip(np.asarray(visibility, dtype=np.float32), 0.0, 1.0)
    coverage = (1.0 - np.prod(1.0 - weights, axis=0)).astype(np.float32)
    if views.dtype == np.uint8:
        colour, total = views[0], weights[0]
        for view, weight in zip(views[1:], weights[1:]):
            colour = _blend(colour, view, total, weight)
            total = total + weight
        return ViewBlend(np.ascontiguousarray(colour), coverage)
    weighted = np.einsum("khw,khwc->hwc", weights, views.astype(np.float32, copy=False))
    colour = weighted / np.maximum(weights.sum(axis=0), 1e-6)[..., None]
    return ViewBlend(colour.astype(views.dtype, copy=False), coverage)


def composite(images: np.ndarray, blend: ViewBlend) -> np.ndarray:
    """α·colour + (1 − α)·image for images [..., H, W, C] of the views' dtype (same dtype and shape out)."""
    alpha = blend.coverage
    if images.dtype == np.uint8:
        flat = images.reshape(-1, *images.shape[-3:])
        hidden = 1.0 - alpha
        return np.stack([_blend(blend.colour, image, alpha, hidden) for image in flat]).reshape(images.shape)
    mixed = images + alpha[..., None] * (blend.colour - images)
    return mixed.astype(images.dtype, copy=False)


def composite_std(std: np.ndarray, blend: ViewBlend) -> np.ndarray:
    """The hypotheses' per-pixel spread [..., H, W] after compositing: scaled by 1 − α (0 where a view shows it)."""
    return (std * (1.0 - blend.coverage)).astype(np.float32, copy=False)


def _blend(first: np.ndarray, second: np.ndarray, first_weight: np.ndarray, second_weight: np.ndarray) -> np.ndarray:
    """(w1·first + w2·second) / (w1 + w2) for uint8 [H,W,C] (OpenCV; 0 where both weights are 0), shape kept."""
    mixed = cv2.blendLinear(np.ascontiguousarray(first), np.ascontiguousarray(second), first_weight, second_weight)
    return np.asarray(mixed).reshape(first.shape)
