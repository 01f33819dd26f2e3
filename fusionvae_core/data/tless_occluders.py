"""Offline cut-out of FusionT-LESS occluders (paper sec. 5.1/5.2): Canny edges → filled outer contour → RGBA.

    python -m fusionvae_core.data.tless_occluders --root BOP_ROOT --out OCCLUDER_DIR

Reads every real training image of the occluder objects (train: 1, 2, 5–7, 11–14, 25–27; eval: 3, 4, 8–10,
15–18, 28–30) and writes the object, cropped to its bounding box and scaled like the targets (image_size / image
width), to OCCLUDER_DIR/{train,eval}/<obj_id>_<im_id>.png plus OCCLUDER_DIR/occluders.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.image_files import read_rgb
from fusionvae_core.data.occluders import OCCLUDER_MANIFEST, OCCLUDER_PARTS, occluder_file_name
from fusionvae_core.data.tless import TLESS_IMAGE_SIZE, find_train_dir, object_images

CLOSING_KERNEL_SIZE = 7


def object_mask(rgb: np.ndarray, canny_low: int, canny_high: int, min_area_fraction: float) -> np.ndarray | None:
    """Filled outline uint8 [H,W] (255 inside) of the largest edge-bounded object, or None if it is too small."""
    gray = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    edges = cv2.Canny(gray, canny_low, canny_high)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (CLOSING_KERNEL_SIZE, CLOSING_KERNEL_SIZE))
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, kernel)
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    largest = max(contours, key=cv2.contourArea)
    if cv2.contourArea(largest) < min_area_fraction * rgb.shape[0] * rgb.shape[1]:
        return None
    mask = np.zeros(rgb.shape[:2], dtype=np.uint8)
    cv2.drawContours(mask, [largest], -1, 255, thickness=cv2.FILLED)
    return mask


def cut_out(rgb: np.ndarray, mask: np.ndarray, image_size: int) -> np.ndarray:
    """RGBA uint8 crop of the masked object, scaled by image_size / image width (the targets' scale)."""
    left, top, width, height = cv2.boundingRect(mask)
    scale = image_size / rgb.shape[1]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    crop_rgb = cv2.resize(rgb[top : top + height, left : left + width], size, interpolation=cv2.INTER_AREA)
    crop_mask = cv2.resize(mask[top : top + height, left : left + width], size, interpolation=cv2.INTER_AREA)
    alpha = np.where(crop_mask >= 128, 255, 0).astype(np.uint8)
    return np.dstack([crop_rgb, alpha])


def write_occluders(
    root: Path, out: Path, image_size: int, canny_low: int, canny_high: int, min_area_fraction: float
) -> dict[str, int]:
    """Cut out all occluder images under `root` into `out`; returns the number of cut-outs per part."""
    train_dir = find_train_dir(root)
    counts = {}
    for part, obj_ids in OCCLUDER_PARTS.items():
        (out / part).mkdir(parents=True, exist_ok=True)
        counts[part] = 0
        for obj_id in obj_ids:
            written = 0
            images = object_images(train_dir, obj_id)
            for image_path in images:
                rgb = read_rgb(image_path)
                mask = object_mask(rgb, canny_low, canny_high, min_area_fraction)
                if mask is None:
                    continue
                rgba = cut_out(rgb, mask, image_size)
                out_path = out / part / occluder_file_name(obj_id, image_path)
                if not cv2.imwrite(str(out_path), rgba[:, :, [2, 1, 0, 3]]):
                    raise DatasetError(f"{out_path}: cannot write the cut-out")
                written += 1
            print(f"{part}: object {obj_id:2d}: {written}/{len(images)} cut-outs", flush=True)
            counts[part] += written
    manifest = {
        "image_size": image_size,
        "source": str(root),
        "canny": [canny_low, canny_high],
        "min_area_fraction": min_area_fraction,
        "objects": {part: list(obj_ids) for part, obj_ids in OCCLUDER_PARTS.items()},
        "counts": counts,
    }
    (out / OCCLUDER_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (2 for a wrong data root)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="BOP T-LESS folder holding train_primesense/")
    parser.add_argument("--out", type=Path, required=True, help="output folder for the cut-outs")
    parser.add_argument("--image-size", type=int, default=TLESS_IMAGE_SIZE, help="target image size (default 64)")
    parser.add_argument("--canny-low", type=int, default=30, help="Canny lower hysteresis threshold")
    parser.add_argument("--canny-high", type=int, default=90, help="Canny upper hysteresis threshold")
    parser.add_argument(
        "--min-area-fraction", type=float, default=0.005, help="skip images whose object covers less than this"
    )
    args = parser.parse_args(argv)
    try:
        counts = write_occluders(
            args.root, args.out, args.image_size, args.canny_low, args.canny_high, args.min_area_fraction
        )
    except (DatasetError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {counts['train']} train and {counts['eval']} eval occluders to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
