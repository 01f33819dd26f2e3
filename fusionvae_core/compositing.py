"""Compositing: keep what the cameras see, take the model's hypothesis only for what they hide.

Given K views and their per-pixel visibility v_k in [0, 1] (the model's prediction, or labels), the views' colour at
a pixel is that of the view most likely to show it there (the highest v_k; ties go to the lower index: camera 0, or
the newest frame, first): where several views show the scene they show the same thing, and a single view's pixel
keeps its full detail where an average of slightly misregistered views would blur it. The views' coverage is
α = 1 − Π (1 − v_k), the probability that at least one view shows the pixel. A composite of an image y is
α·c + (1 − α)·y: the views' own pixels where a view shows the scene (soft-blended at the edges), the hypothesis
elsewhere. The hypotheses' spread is scaled by (1 − α) the same way, so the uncertainty is ~0 where a view shows
the scene.

Arrays are channel-last numpy (images [..., H, W, C], visibility [K, H, W]). Float images (evaluation) are
composited exactly. uint8 images (the node's, at camera resolution) take the views' pixels where α rounds to 1 and
the hypothesis where it rounds to 0 as they are, and blend only the soft edge between them: a few milliseconds for
a 640x480 set. No torch: the node composites with this module.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

#: uint8 compositing: coverage at or above 1 − this takes the view, at or below this the hypothesis, unblended.
HARD_EDGE = 1.0 / 512.0


class ViewBlend(NamedTuple):
    """What the views contribute to every composite of one set: `colour` [H,W,C] (the most likely visible view's
    pixels, the views' dtype), `coverage` float32 [H,W] (α), and for uint8 images the pixels α rounds to 1
    (`shown`, uint8 mask [H,W]) and the flat indices of the soft edge (`edge`) with its coverage (`edge_alpha`)."""

    colour: np.ndarray
    coverage: np.ndarray
    shown: np.ndarray
    edge: np.ndarray
    edge_alpha: np.ndarray


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
    views = np.ascontiguousarray(views)  # OpenCV writes into C-ordered arrays only
    weights = np.clip(np.asarray(visibility, dtype=np.float32), 0.0, 1.0)
    coverage = (1.0 - np.prod(1.0 - weights, axis=0)).astype(np.float32)  # 0 without views: the hypotheses stay
    if not len(views):
        nowhere = np.zeros(coverage.shape, np.uint8)
        return ViewBlend(
            np.zeros(views.shape[1:], views.dtype), coverage, nowhere, np.zeros(0, np.intp), np.zeros((0, 1))
        )
    colour, most_likely = np.array(views[0]), weights[0]
    for view, weight in zip(views[1:], weights[1:]):  # strictly more likely replaces: ties keep the lower index
        cv2.copyTo(view, cv2.compare(weight, most_likely, cv2.CMP_GT), colour)
        most_likely = cv2.max(most_likely, weight)
    shown = (coverage >= 1.0 - HARD_EDGE).view(np.uint8)
    edge = np.flatnonzero((coverage > HARD_EDGE) & (coverage < 1.0 - HARD_EDGE))
    return ViewBlend(colour, coverage, shown, edge, coverage.ravel()[edge][:, None])


def composite(images: np.ndarray, blend: ViewBlend) -> np.ndarray:
    """α·colour + (1 − α)·image for images [..., H, W, C] of the views' dtype (same dtype and shape out)."""
    if images.dtype != np.uint8:
        mixed = images + blend.coverage[..., None] * (blend.colour - images)
        return mixed.astype(images.dtype, copy=False)
    out = np.array(images, order="C")
    channels = images.shape[-1]
    colour_edge = blend.colour.reshape(-1, channels)[blend.edge].astype(np.float32)
    for image in out.reshape(-1, *images.shape[-3:]):
        cv2.copyTo(blend.colour, blend.shown, image)
        flat = image.reshape(-1, channels)
        mixed = blend.edge_alpha * colour_edge + (1.0 - blend.edge_alpha) * flat[blend.edge]
        flat[blend.edge] = np.rint(mixed).astype(np.uint8)
    return out


def composite_std(std: np.ndarray, blend: ViewBlend) -> np.ndarray:
    """The hypotheses' per-pixel spread [..., H, W] after compositing: scaled by 1 − α (0 where a view shows it)."""
    return (std * (1.0 - blend.coverage)).astype(np.float32, copy=False)
