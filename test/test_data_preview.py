"""Preview CLI: a grid with one row per K = 0..3, K views shown and the rest greyed out, then the target."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from camera_bags import smooth_frames, write_camera_bag

from fusionvae_core import ModelConfig
from fusionvae_core.data import build_dataset
from fusionvae_core.data.preview import ABSENT_VIEW_GREY, GAP, HEADER_HEIGHT, LABEL_WIDTH, main, render_preview
from fusionvae_core.training import load_config


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


def test_preview_of_a_training_config_uses_its_data_size_and_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    frames = smooth_frames(24, 48, 64, seed=0)
    bag = write_camera_bag(tmp_path / "bag", {f"/camera_{i}/image_raw": ("bgr8", frames) for i in range(3)})
    config = Path(__file__).resolve().parents[1] / "training" / "configs" / "own_bag.yaml"
    out = tmp_path / "grid.png"
    assert main(["--config", str(config), "--data-root", str(bag), "--split", "train", "--out", str(out)]) == 0
    options = load_config(config).data.dataset_options(ModelConfig.preset("fusion_celeba"))
    expected = render_preview(build_dataset("rosbag", "train", bag, **options))
    saved = cv2.imread(str(out))[:, :, ::-1]
    assert saved.shape == expected.shape and saved.shape[0] == HEADER_HEIGHT + 4 * (128 + GAP)  # 64² items, scale 2
    targets = slice(-128 - GAP, -GAP)  # training views are random draws; the centre-cropped targets are fixed
    np.testing.assert_array_equal(saved[:, targets], expected[:, targets])
