"""Compositing: keep what the cameras see, take the model's hypothesis only for what they hide.

Given K views and their per-pixel visibility v_k in [0, 1] (the model's prediction, or labels), the views' colour
is their visibility-weighted average c = Σ v_k x_k / Σ v_k and their coverage α = 1 − Π (1 − v_k) (the probability
that at least one view shows the pixel). A composite of an image y is α·c + (1 − α)·y: the view's own pixels where a
view shows the scene (soft-blended at the edges), the hypothesis elsewhere. The hypotheses' spread is scaled by
(1 − α) the same way, so the uncertainty is ~0 where a view shows the scene. Arrays are channel-last numpy
(images [..., H, W, C], visibility [K, H, W]); uint8 images stay uint8 (rounded), float images stay float.
No torch: the node composites at camera resolution with this module.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ViewBlend(NamedTuple):
    """What the views contribute to every composite of one set: `colour` float32 [H,W,C] (their visibility-weighted
    mean, in the views' value range) and `coverage` float32 [H,W] (α, the chance that some view shows the pixel)."""

    colour: np.ndarray
    coverage: np.ndarray


def blend_views(views: np.ndarray, visibility: np.ndarray) -> ViewBlend:
    """The ViewBlend of views [K,H,W,C] (uint8 or float) with visibility [K,H,W] in [0, 1]."""
    if views.ndim != 4 or visibility.shape != views.shape[:3]:
        raise ValueError(f"blend_views: views [K,H,W,C] and visibility [K,H,W], got {views.shape}, {visibility.shape}")
    weights = np.clip(visibility.astype(np.float32, copy=False), 0.0, 1.0)
    total = weights.sum(axis=0)
    weighted = np.einsum("khw,khwc->hwc", weights, views.astype(np.float32, copy=False))
    colour = weighted / np.maximum(total, 1e-6)[..., None]
    coverage = 1.0 - np.prod(1.0 - weights, axis=0)
    return ViewBlend(colour.astype(np.float32, copy=False), coverage.astype(np.float32, copy=False))


def composite(images: np.ndarray, blend: ViewBlend) -> np.ndarray:
    """α·colour + (1 − α)·image for images [..., H, W, C] (same dtype out; uint8 rounded and clipped)."""
    alpha = blend.coverage[..., None]
    mixed = alpha * blend.colour + (1.0 - alpha) * images.astype(np.float32, copy=False)
    if images.dtype == np.uint8:
        return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return mixed.astype(images.dtype, copy=False)


def composite_std(std: np.ndarray, blend: ViewBlend) -> np.ndarray:
    """The hypotheses' per-pixel spread [..., H, W] after compositing: scaled by 1 − α (0 where a view shows it)."""
    return (std * (1.0 - blend.coverage)).astype(np.float32, copy=False)
