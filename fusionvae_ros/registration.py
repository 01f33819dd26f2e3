"""View registration: warp each camera's view into the reference camera (camera 0) before fusion.

FusionVAE fuses pixel-aligned views: one viewpoint, different occlusions. Cameras at different poses see a
planar scene (or a distant one) through a homography; ``homography_<i>`` maps camera i's pixels to camera 0's
(row-major 3x3, identity by default). Views are warped at the resolution they were decoded at (a reduced-scale
JPEG decode included), onto a canvas of their own size (the cameras of a set have one size); what camera i does
not see stays black, as the model's occluded regions are. ``fusionvae_bag register`` estimates the matrices.
"""

from __future__ import annotations

import cv2
import numpy as np

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


class RegistrationError(ValueError):
    """A homography parameter that cannot be used (wrong length, not finite, singular)."""


def parse_homography(name: str, values: list[float] | tuple[float, ...]) -> np.ndarray | None:
    """A 3x3 homography (normalised so H[2, 2] = 1) from 9 row-major values; None for the identity."""
    if len(values) != 9:
        raise RegistrationError(f"parameter {name}: expected 9 values (row-major 3x3), got {len(values)}")
    matrix = np.asarray(values, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(matrix).all() or abs(matrix[2, 2]) < 1e-12 or abs(np.linalg.det(matrix)) < 1e-12:
        raise RegistrationError(f"parameter {name}: {list(values)} is not an invertible homography with H[2,2] != 0")
    matrix /= matrix[2, 2]
    return None if np.allclose(matrix, np.reshape(IDENTITY, (3, 3))) else matrix


class ViewRegistration:
    """Per-camera homographies into camera 0 and the warp that applies them."""

    def __init__(self, homographies: dict[int, np.ndarray | None]) -> None:
        self._homographies = {camera: h for camera, h in homographies.items() if h is not None}

    @property
    def active(self) -> bool:
        """Whether any camera is warped."""
        return bool(self._homographies)

    def warp(self, camera: int, pixels: np.ndarray, camera_size: tuple[int, int]) -> np.ndarray:
        """``pixels`` of ``camera`` ([h, w, C], decoded from a ``camera_size`` image) in camera 0's pixel grid."""
        homography = self._homographies.get(camera)
        if homography is None:
            return pixels
        height, width = pixels.shape[:2]
        scale = np.diag([width / camera_size[0], height / camera_size[1], 1.0])  # camera pixels -> decoded pixels
        warped = cv2.warpPerspective(
            np.ascontiguousarray(pixels),
            scale @ homography @ np.linalg.inv(scale),
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        return warped.reshape(pixels.shape)
