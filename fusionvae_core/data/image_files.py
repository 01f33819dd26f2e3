"""Reading image files with OpenCV as RGB uint8, with a clear error for unreadable files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fusionvae_core.data.errors import DatasetError


def read_rgb(path: Path) -> np.ndarray:
    """Read a colour image file as uint8 [H,W,3] RGB; DatasetError if it cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"{path}: cannot read this file as an image")
    return np.ascontiguousarray(image[:, :, ::-1])


def resize_area(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an image [H,W(,C)] to size×size with INTER_AREA (the anti-aliased down-scaling)."""
    return np.asarray(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))


def to_chw_float(image: np.ndarray) -> np.ndarray:
    """uint8 [H,W,C] → float32 [C,H,W] in [0,1]."""
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255.0
