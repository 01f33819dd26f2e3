"""Outputs in the reference camera's geometry: which part of the camera image the model sees, the size the fused
images are published at, and the reference camera's calibration moved into the output pixels. ROS-free (the
message builder, outputs.py, makes the CameraInfo).

The model sees the whole camera image squeezed into its square (resize_mode resize) or the centred square
(center_crop). With ``output_size: camera`` the hypotheses, mean and uncertainty are resized back to that field
of view at camera resolution; with ``model`` they stay at the model's size. Either way fused/camera_info carries
the reference camera's calibration moved into the output pixels: crop offset, then scale, with pixel centres
mapped as cv2.resize maps them (u' = (u + 0.5) * s - 0.5). Distortion is unchanged (the image is not rectified).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

OUTPUT_SIZES = ("model", "camera")


@dataclass(frozen=True)
class OutputGeometry:
    """The model's field of view in camera pixels (left, top, width, height) and the output (width, height)."""

    crop: tuple[int, int, int, int]
    size: tuple[int, int]


def output_geometry(
    camera_size: tuple[int, int], model_size: int, resize_mode: str, output_size: str
) -> OutputGeometry:
    """Where the outputs sit in a ``camera_size`` (width, height) image and how large they are published."""
    width, height = camera_size
    if resize_mode == "center_crop":  # the square framing.center_square takes
        side = min(width, height)
        crop = ((width - side) // 2, (height - side) // 2, side, side)
    else:
        crop = (0, 0, width, height)
    size = (crop[2], crop[3]) if output_size == "camera" else (model_size, model_size)
    return OutputGeometry(crop, size)


def resize_output(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An [H, W, C] uint8 or [H, W] float32 output resized to (width, height) = ``size`` (bilinear)."""
    if pixels.shape[1::-1] == size:
        return pixels
    resized = cv2.resize(pixels, size, interpolation=cv2.INTER_LINEAR)
    return resized.reshape(size[1], size[0], *pixels.shape[2:])


def sibling_camera_info_topic(image_topic: str) -> str:
    """The camera_info topic next to an image topic (image_transport: <namespace>/camera_info)."""
    namespace, _, _ = image_topic.rstrip("/").rpartition("/")
    return f"{namespace}/camera_info" if namespace else "camera_info"


def moved_calibration(
    info: Any, camera_size: tuple[int, int], geometry: OutputGeometry
) -> tuple[np.ndarray, np.ndarray]:
    """K (3x3) and P (3x4) of the reference camera's CameraInfo ``info`` moved into the output pixels.

    Binning and ROI of ``info`` are applied first (its K describes the full sensor), and a calibration made at
    another resolution than the ``camera_size`` images is scaled to them.
    """
    k, p = np.asarray(info.k, dtype=np.float64).reshape(3, 3), np.asarray(info.p, dtype=np.float64).reshape(3, 4)
    binning = (max(info.binning_x, 1), max(info.binning_y, 1))
    offset = (info.roi.x_offset, info.roi.y_offset)
    calibrated = (
        (info.roi.width or info.width) / binning[0] or camera_size[0],
        (info.roi.height or info.height) / binning[1] or camera_size[1],
    )
    left, top, crop_width, crop_height = geometry.crop
    out_k, out_p = k.copy(), p.copy()
    for axis in (0, 1):
        to_camera = camera_size[axis] / calibrated[axis]  # calibrated image pixels -> received image pixels
        scale = geometry.size[axis] / (crop_width, crop_height)[axis]
        crop_offset = (left, top)[axis]
        # focal lengths (and P's baseline term) scale; principal points shift by ROI/crop, then scale
        focal = to_camera * scale / binning[axis]
        for matrix in (out_k, out_p):
            matrix[axis, axis] *= focal
            centre = (matrix[axis, 2] - offset[axis]) / binning[axis] * to_camera
            matrix[axis, 2] = (centre - crop_offset + 0.5) * scale - 0.5
        out_p[axis, 3] *= focal
    return out_k, out_p
