"""Views of one scene seen through known homographies, for the registration tests."""

from __future__ import annotations

import cv2
import numpy as np

# camera i's pixels -> camera 0's pixels: a small rotation/shift/zoom, and a mild perspective change
TRUE_HOMOGRAPHIES = {
    1: np.array([[1.02, -0.06, 14.0], [0.06, 1.02, -9.0], [0.0, 0.0, 1.0]]),
    2: np.array([[0.99, 0.03, -11.0], [-0.02, 1.01, 7.0], [4e-5, -3e-5, 1.0]]),
}


def textured_scene(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A grey uint8 image with structure at several scales (what a feature matcher needs)."""
    rng = np.random.default_rng(seed)
    scene = np.zeros((height, width), np.float32)
    for cell, weight in ((64, 0.5), (16, 0.3), (4, 0.2)):
        coarse = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
        scene += (
            weight
            * cv2.resize(coarse, (width + 2 * cell, height + 2 * cell), interpolation=cv2.INTER_CUBIC)[
                cell : cell + height, cell : cell + width
            ]
        )
    return np.clip(scene * 255, 0, 255).astype(np.uint8)


def seen_by(reference: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """What a camera whose pixels map to the reference's by ``homography`` sees: view(p) = reference(H p)."""
    height, width = reference.shape[:2]
    view = cv2.warpPerspective(reference, homography, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    return view.reshape(reference.shape)


def corner_error(estimated: np.ndarray, true: np.ndarray, width: int, height: int) -> float:
    """Largest distance (camera-0 pixels) between where the two homographies put the image corners."""
    corners = np.float64([[[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]]])
    return float(
        np.linalg.norm(
            cv2.perspectiveTransform(corners, estimated) - cv2.perspectiveTransform(corners, true), axis=2
        ).max()
    )
