"""Compositing a fused set in its output geometry: the cameras' own pixels where a view shows the scene, the model's
hypotheses only where every view is occluded (fusionvae_core.compositing does the arithmetic).

With ``output_size: model`` the views' model inputs are blended at the model's size. With ``output_size: camera``
the registered camera images (decoded at full resolution for this, see FusionPipeline.prepare) are cut to the
model's field of view, the visibility and the hypotheses are upsampled to it, and the composite keeps every pixel a
camera delivered: detail the model's 64x64 could never carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import cv2
import numpy as np

from fusionvae_core.compositing import blend_views, composite, composite_std, upsample_visibility
from fusionvae_ros.output_geometry import OutputGeometry, resize_output


class SetView(Protocol):
    """What compositing needs of a prepared view: its camera image size, the registered image and the model input."""

    @property
    def camera_size(self) -> tuple[int, int]: ...

    @property
    def registered(self) -> np.ndarray: ...

    @property
    def model_input(self) -> np.ndarray: ...


class SetOutputs(NamedTuple):
    """A set's images in its output geometry: hypotheses uint8 [S,H,W,C], mean uint8 [H,W,C], std float32 [H,W]."""

    hypotheses: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def composite_set(
    views: Sequence[SetView], visibility: np.ndarray, outputs: SetOutputs, geometry: OutputGeometry
) -> SetOutputs:
    """``outputs`` (at the model's size) composited with the set's views by their visibility [K,s,s], returned at
    ``geometry.size``."""
    model_size = outputs.mean.shape[1::-1]
    if geometry.size == model_size:
        pixels, maps = np.stack([view.model_input for view in views]), visibility
    else:
        pixels = np.stack([field_of_view(view, geometry) for view in views])
        maps = upsample_visibility(visibility, geometry.size)
        outputs = SetOutputs(
            np.stack([resize_output(image, geometry.size) for image in outputs.hypotheses]),
            resize_output(outputs.mean, geometry.size),
            resize_output(outputs.std, geometry.size),
        )
    blend = blend_views(pixels, maps)
    return SetOutputs(
        composite(outputs.hypotheses, blend), composite(outputs.mean, blend), composite_std(outputs.std, blend)
    )


def field_of_view(view: SetView, geometry: OutputGeometry) -> np.ndarray:
    """The part of a view's registered image the model saw (geometry.crop, in camera pixels), at geometry.size."""
    registered = view.registered
    scale = registered.shape[1] / view.camera_size[0]  # < 1 after a reduced-scale JPEG decode
    left, top, width, height = (round(value * scale) for value in geometry.crop)
    pixels = np.ascontiguousarray(registered[top : top + height, left : left + width])
    if pixels.shape[1::-1] == geometry.size:
        return pixels
    resized = cv2.resize(pixels, geometry.size, interpolation=cv2.INTER_LINEAR)
    return np.asarray(resized).reshape(geometry.size[1], geometry.size[0], registered.shape[2])
