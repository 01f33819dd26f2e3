"""Preview CLI: a grid with one row per K = 0..3, K views shown and the rest greyed out, then the target."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fusionvae_core.data import build_dataset
from fusionvae_core.data.preview import ABSENT_VIEW_GREY, GAP, HEADER_HEIGHT, LABEL_WIDTH, main, render_preview


def test_preview_rows_show_k_views_and_the_target(tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    assert main(["--dataset", "fusion_mnist", "--out", str(out), "--index", "7"]) == 0
    saved = cv2.imread(str(out))[:, :, ::-1]
    dataset = build_dataset("fusion_mnist", "test")
    grid = render_preview(dataset, first_index=7)
    np.testing.assert_array_equal(saved, grid)
    cell = 128  # 32×32 images at scale 4
    for k in range(4):
        top = HEADER_HEIGHT + k * (cell + GAP)
        item = dataset[7 + k]
        for view_index in range(3):
            left = LABEL_WIDTH + view_index * (cell + GAP)
            patch = grid[top : top + cell, left : left + cell]
            if view_index < k:
                expected = np.round(item.views[view_index, 0].numpy() * 255).astype(np.uint8)
                np.testing.assert_array_equal(patch[::4, ::4, 0], expected)
            else:
                assert (patch == ABSENT_VIEW_GREY).all()
        target_patch = grid[top : top + cell, -cell - GAP : -GAP]
        np.testing.assert_array_equal(
            target_patch[::4, ::4, 1], np.round(item.target[0].numpy() * 255).astype(np.uint8)
        )
