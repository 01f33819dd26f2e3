"""A PNG picture of fused sets, one row each: input views | hypotheses | mean | uncertainty | target.

The input views are the cameras' views of a set (``camera_rows``) or, with the temporal view source, the frames it
fused. Cameras that dropped their frame (and frames a set did not have) show as a grey cell with a cross; the
uncertainty (per-pixel std over the hypotheses, in [0, 0.5] for images in [0, 1]) is shown with the inferno colour map
on that fixed scale, so rows compare with each other and across runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fusionvae_core.data.framing import center_square
from fusionvae_ros.bag.score import FusedOutput, GroundTruthSet

CELL = 96  # pixels per image cell
GAP = 6
LABEL_HEIGHT = 22  # column titles
ROW_LABEL_WIDTH = 40  # "K=n" in front of each row
STD_SCALE = 0.5  # the largest possible std of values in [0, 1]
MISSING_GREY = 70


def _cell(image: np.ndarray, cell: int) -> np.ndarray:
    """An image (uint8 [H, W, 1|3]) as an RGB cell x cell tile (enlarged nearest-neighbour, so model pixels stay
    visible; camera-sized images shrunk by area averaging)."""
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    interpolation = cv2.INTER_NEAREST if max(rgb.shape[:2]) <= cell else cv2.INTER_AREA
    return cv2.resize(np.ascontiguousarray(rgb), (cell, cell), interpolation=interpolation)


def _missing_cell(cell: int) -> np.ndarray:
    """The tile of a camera that published no view for the set."""
    tile = np.full((cell, cell, 3), MISSING_GREY, np.uint8)
    cv2.line(tile, (8, 8), (cell - 9, cell - 9), (140, 140, 140), 2)
    cv2.line(tile, (cell - 9, 8), (8, cell - 9), (140, 140, 140), 2)
    return tile


def _uncertainty_cell(std: np.ndarray, cell: int) -> np.ndarray:
    """A float [H, W] std map as an inferno-coloured RGB tile on the fixed scale [0, STD_SCALE]."""
    scaled = np.clip(std / STD_SCALE * 255.0, 0, 255).astype(np.uint8)
    coloured = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    return _cell(coloured, cell)


@dataclass(frozen=True)
class GridRow:
    """One row: its label, the input views (None: no view), the fused output and the target (uint8 [H, W, C])."""

    label: str
    views: list[np.ndarray | None]
    output: FusedOutput
    target: np.ndarray


def camera_rows(
    pairs: list[tuple[GroundTruthSet, FusedOutput]], camera_topics: list[str], resize_mode: str = "resize"
) -> list[GridRow]:
    """Rows of input sets (views loaded) and their fused outputs: each camera's view and the target in the model's
    field of view (the centre square with center_crop), labelled by the set's K."""

    def framed(image: np.ndarray) -> np.ndarray:
        return center_square(image) if resize_mode == "center_crop" else image

    return [
        GridRow(
            f"K={truth.info.k}",
            [None if (view := truth.views.get(topic)) is None else framed(view) for topic in camera_topics],
            output,
            framed(truth.target),
        )
        for truth, output in pairs
    ]


def render_grid(rows: list[GridRow], view_labels: list[str], cell: int = CELL) -> np.ndarray:
    """The RGB picture of ``rows``, their input views under ``view_labels``, in tiles of cell x cell pixels."""
    if not rows:
        raise ValueError("no fused sets to draw")
    num_hypotheses = max(len(row.output.hypotheses) for row in rows)
    labels = [*view_labels, *(f"hyp {s + 1}" for s in range(num_hypotheses)), "mean", "std", "target"]
    width = ROW_LABEL_WIDTH + len(labels) * (cell + GAP) + GAP
    height = LABEL_HEIGHT + len(rows) * (cell + GAP) + GAP
    canvas = np.full((height, width, 3), 255, np.uint8)
    for column, label in enumerate(labels):
        left = ROW_LABEL_WIDTH + GAP + column * (cell + GAP)
        cv2.putText(canvas, label, (left + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    for index, row in enumerate(rows):
        output = row.output
        views = row.views + [None] * (len(view_labels) - len(row.views))
        tiles = [_cell(view, cell) if view is not None else _missing_cell(cell) for view in views]
        tiles += [_cell(hypothesis, cell) for hypothesis in output.hypotheses]
        tiles += [_missing_cell(cell)] * (num_hypotheses - len(output.hypotheses))
        tiles.append(_cell(output.mean, cell) if output.mean is not None else _missing_cell(cell))
        uncertainty = output.uncertainty
        tiles.append(_uncertainty_cell(uncertainty, cell) if uncertainty is not None else _missing_cell(cell))
        tiles.append(_cell(row.target, cell))
        top = LABEL_HEIGHT + index * (cell + GAP)
        for column, tile in enumerate(tiles):
            left = ROW_LABEL_WIDTH + GAP + column * (cell + GAP)
            canvas[top : top + cell, left : left + cell] = tile
        cv2.putText(canvas, row.label, (4, top + cell // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    return canvas


def write_grid(path: Path, rows: list[GridRow], view_labels: list[str], cell: int = CELL) -> None:
    """Render ``rows`` (tiles of cell x cell pixels) and save them as a PNG at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(render_grid(rows, view_labels, cell), cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")
