"""training/train.py with training/configs/fusion_tabletop.yaml and fusion_tabletop_arm.yaml: real steps of the
fusion_tabletop preset on a small render cache of each benchmark, which is what the shipped configs train on."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_train_helpers import REPO, checkpoint_of, quick_overrides

from fusionvae_core.data.tabletop.cache import TABLETOP, Benchmark, render_cache
from fusionvae_core.data.tabletop.sequence import ArmBenchmark
from fusionvae_core.training.logging import read_metrics
from training.train import main

pytestmark = pytest.mark.slow

CONFIGS = REPO / "training" / "configs"


@pytest.mark.parametrize(
    ("config", "benchmark", "train_items"),
    [("fusion_tabletop.yaml", TABLETOP, 8), ("fusion_tabletop_arm.yaml", ArmBenchmark(3), 4)],
    ids=["fusion_tabletop", "fusion_tabletop_arm"],
)
def test_rendered_benchmark_config_trains_on_a_render_cache(
    tmp_path: Path, config: str, benchmark: Benchmark, train_items: int
) -> None:
    cache = tmp_path / "cache"
    render_cache(cache, "train", train_items, shard_size=4, benchmark=benchmark)
    render_cache(cache, "val", 4, benchmark=benchmark)
    sets = quick_overrides(2, batch_size=4, data__num_workers=0)
    arguments = ["--config", str(CONFIGS / config), "--run-dir", str(tmp_path / "run"), "--data-root", str(cache)]
    assert main([*arguments, *(part for item in sets for part in ("--set", item))]) == 0
    metrics = read_metrics(tmp_path / "run")
    assert [record["step"] for record in metrics] == [0, 1]
    assert all(math.isfinite(record["loss"]) and record["skipped"] is None for record in metrics)
    checkpoint = checkpoint_of(tmp_path / "run")
    assert checkpoint["meta"]["status"] == "finished"
    assert checkpoint["model_config"]["name"] == "fusion_tabletop"
    assert (checkpoint["model_config"]["image_size"], checkpoint["model_config"]["channels"]) == (64, 3)
