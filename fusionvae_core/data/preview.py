"""Preview picture of a fusion dataset, like the left columns of the paper's fig. 3–5.

    python -m fusionvae_core.data.preview --dataset fusion_mnist --out grid.png
    python -m fusionvae_core.data.preview --config my_cams.yaml --data-root lab_day1 --split train --out grid.png

One row per K = 0..3 (a different target each): view 1, view 2, view 3 (grey where the view is absent) | target.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.factory import DATASET_NAMES, build_dataset
from fusionvae_core.data.fusion_dataset import NUM_VIEWS, FusionDataset

CELL_PIXELS = 128
GAP = 4
TARGET_GAP = 16
LABEL_WIDTH = 56
HEADER_HEIGHT = 24
ABSENT_VIEW_GREY = 200
BACKGROUND = 255


def _to_cell(image_chw: np.ndarray, scale: int) -> np.ndarray:
    """float [C,H,W] in [0,1] → uint8 RGB [H·scale, W·scale, 3] (nearest neighbour, grey replicated)."""
    rgb = np.repeat(image_chw, 3, axis=0) if image_chw.shape[0] == 1 else image_chw
    pixels = np.round(np.clip(rgb.transpose(1, 2, 0), 0.0, 1.0) * 255).astype(np.uint8)
    return np.asarray(pixels.repeat(scale, axis=0).repeat(scale, axis=1))


def _put_text(canvas: np.ndarray, text: str, x: int, y: int) -> None:
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)


def render_preview(dataset: FusionDataset, first_index: int = 0) -> np.ndarray:
    """RGB uint8 grid: row K (0..3) shows the first K views of item first_index + K, then its target."""
    scale = max(1, CELL_PIXELS // dataset.image_size)
    cell = dataset.image_size * scale
    columns = [LABEL_WIDTH + i * (cell + GAP) for i in range(NUM_VIEWS)]
    columns.append(columns[-1] + cell + TARGET_GAP)
    width = columns[-1] + cell + GAP
    height = HEADER_HEIGHT + (NUM_VIEWS + 1) * (cell + GAP)
    canvas = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    for column, title in zip(columns, [f"view {i + 1}" for i in range(NUM_VIEWS)] + ["target"]):
        _put_text(canvas, title, column + 4, HEADER_HEIGHT - 8)
    for k in range(NUM_VIEWS + 1):
        item = dataset[(first_index + k) % len(dataset)]
        top = HEADER_HEIGHT + k * (cell + GAP)
        _put_text(canvas, f"K={k}", 8, top + cell // 2 + 5)
        for view_index, left in enumerate(columns[:NUM_VIEWS]):
            if view_index < k:
                canvas[top : top + cell, left : left + cell] = _to_cell(item.views[view_index].numpy(), scale)
            else:
                canvas[top : top + cell, left : left + cell] = ABSENT_VIEW_GREY
        canvas[top : top + cell, columns[-1] : columns[-1] + cell] = _to_cell(item.target.numpy(), scale)
    return canvas


def _data_settings(args: argparse.Namespace) -> tuple[str, str | None, dict[str, Any]]:
    """(dataset, data root, build_dataset options) from --config (if given) and the explicit options."""
    from fusionvae_core.training.config import load_config  # the training package imports this data package

    name, data_root, options = args.dataset or "fusion_mnist", args.data_root, {}
    if args.config is not None:
        config = load_config(args.config)
        name = args.dataset or config.data.dataset
        data_root = args.data_root or config.data.data_root
        options = config.data.dataset_options(config.model.model_config()) if name == config.data.dataset else {}
    if args.occluder_dir:
        options["occluder_dir"] = args.occluder_dir
    return name, data_root, options


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (2 with one message for a wrong data root or bad option)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASET_NAMES, help="default: the config's, else fusion_mnist")
    parser.add_argument(
        "--config", type=Path, help="training config: its dataset, data root, occlusion recipe and model size"
    )
    parser.add_argument("--out", type=Path, required=True, help="output PNG file")
    parser.add_argument("--data-root", default=None, help="dataset folder (default: the embedded data, if any)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fixed val/test views")
    parser.add_argument("--index", type=int, default=0, help="dataset index of the first row")
    parser.add_argument("--occluder-dir", default=None, help="fusion_tless: folder of the occluder cut-outs")
    args = parser.parse_args(argv)
    try:
        name, data_root, options = _data_settings(args)
        dataset = build_dataset(name, args.split, data_root, args.seed, **options)
        grid = render_preview(dataset, args.index)
    except (DatasetError, ValueError) as error:  # ValueError: an invalid config (ConfigError)
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        written = cv2.imwrite(str(args.out), np.ascontiguousarray(grid[:, :, ::-1]))
    except (OSError, cv2.error):
        written = False
    if not written:
        print(f"error: {args.out}: cannot write the picture (use a .png path in a writable folder)", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({dataset.name}, {args.split}, {len(dataset)} items)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
