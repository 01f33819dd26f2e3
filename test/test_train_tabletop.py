"""training/train.py with training/configs/fusion_tabletop.yaml: real steps of the fusion_tabletop preset on a
small render cache, which is what the shipped config trains on."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_train_helpers import REPO, checkpoint_of, quick_overrides

from fusionvae_core.data.tabletop.cache import render_cache
from fusionvae_core.training.logging import read_metrics
from training.train import main

pytestmark = pytest.mark.slow

TABLETOP_CONFIG = REPO / "training" / "configs" / "fusion_tabletop.yaml"


def test_fusion_tabletop_config_trains_on_a_render_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    render_cache(cache, "train", 8, shard_size=4)
    render_cache(cache, "val", 4)
    sets = quick_overrides(2, batch_size=4, data__num_workers=0)
    arguments = ["--config", str(TABLETOP_CONFIG), "--run-dir", str(tmp_path / "run"), "--data-root", str(cache)]
    assert main([*arguments, *(part for item in sets for part in ("--set", item))]) == 0
    metrics = read_metrics(tmp_path / "run")
    assert [record["step"] for record in metrics] == [0, 1]
    assert all(math.isfinite(record["loss"]) and record["skipped"] is None for record in metrics)
    checkpoint = checkpoint_of(tmp_path / "run")
    assert checkpoint["meta"]["status"] == "finished"
    assert checkpoint["model_config"]["name"] == "fusion_tabletop"
    assert (checkpoint["model_config"]["image_size"], checkpoint["model_config"]["channels"]) == (64, 3)
