"""training/evaluate.py's region tables (regions.md, regions.csv) and the goals read off them: rendered tabletop
scenes report object, hidden and whole-image rows (a view-median figure recomputed by hand); own data (an image
folder), which has no object masks, reports whole-image and hidden-pixel rows and says so."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.baselines import ViewReference
from fusionvae_core.checkpoint import save_checkpoint
from fusionvae_core.data import build_dataset
from fusionvae_core.data.tabletop.cache import render_cache
from fusionvae_core.region_evaluation import GENERATED, MSE_MEAN, ORACLE_COMPOSITE, REFERENCE
from fusionvae_core.region_goals import main as goals_main
from fusionvae_core.region_report import CSV_FIELDS, NO_OBJECT_MASKS, find_value, read_regions_csv
from training import evaluate

SIZE, ITEMS = 32, 4
ARGUMENTS = ["--tables", "regions", "--items", str(ITEMS), "--region-samples", "2", "--batch-size", "2"]


def tiny_checkpoint(path: Path, size: int = SIZE) -> Path:
    """An untrained tiny RGB FusionVAE checkpoint for `size`² images (the plumbing, not the quality, is tested)."""
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset("tiny", image_size=size, channels=3, likelihood="logistic_mixture"))
    save_checkpoint(path, model_kind="fusionvae", model_config=model.config.to_dict(), state_dict=model.state_dict())
    return path


@pytest.fixture(scope="module")
def tabletop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered 4-scene FusionTabletop test split at 32² (with object masks)."""
    root = tmp_path_factory.mktemp("tabletop")
    render_cache(root, "test", ITEMS, seed=0, image_size=SIZE, shard_size=ITEMS)
    return root


def test_tabletop_regions_report_object_hidden_and_whole_image_rows(
    tabletop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tiny_checkpoint(tmp_path / "rgb.pt")
    out = tmp_path / "eval"
    arguments = ["--checkpoint", str(checkpoint), "--dataset", "fusion_tabletop", "--data-root", str(tabletop)]
    assert evaluate.main([*arguments, *ARGUMENTS, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["regions.csv", "regions.md"], "--tables regions only"
    with (out / "regions.csv").open(newline="") as handle:
        assert next(csv.reader(handle)) == CSV_FIELDS
    results = read_regions_csv(out / "regions.csv")
    assert {r.region for r in results} == {"whole", "object", "hidden"}
    assert {(r.model, r.output) for r in results} == {
        ("FusionVAE", GENERATED),
        ("FusionVAE", ORACLE_COMPOSITE),
        *((name, REFERENCE) for name in ("view mean", "view median", "best single view")),
    }, "no visibility head: no composited row"

    dataset = build_dataset("fusion_tabletop", "test", tabletop)
    items = [dataset[index] for index in range(ITEMS)]
    views = torch.stack([item.views for item in items])
    target = torch.stack([item.target for item in items])
    objects = torch.stack([item.object_mask for item in items])  # type: ignore[misc]
    error = (ViewReference("median").predict(views) - target).square().mean(dim=1)
    by_hand = torch.stack([error[b][objects[b]].mean() for b in range(ITEMS)]).mean().item()
    reported = find_value(results, "view median", REFERENCE, MSE_MEAN, "object", 3)
    assert reported == pytest.approx(100 * by_hand, rel=1e-4), "object-pixel MSE of the median of 3 views, 1e-2"

    markdown = (out / "regions.md").read_text()
    sections = ["### Whole image", "### Target-object pixels", "### Hidden pixels", "### Does the uncertainty"]
    assert all(section in markdown for section in sections) and "No visibility head (so no composited row)" in markdown
    assert f"Items scored (region not empty): K=0: {ITEMS} of {ITEMS}" in markdown
    assert "| FusionVAE generated |" in markdown and "| best single view |" in markdown

    assert goals_main([str(out / "regions.csv")]) == 0
    goals = capsys.readouterr().out
    assert "object pixels, K = 3: FusionVAE generated / view median = " in goals and "(goal ≤ 0.5)" in goals
    assert "FusionVAE has no visibility head" in goals and "not measured (no CVAE+S row)" in goals


def test_own_data_without_object_masks_reports_whole_image_and_hidden_pixels_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the folder's index cache
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(40):  # about 10 % land in the test split
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{index:02d}.png")
    checkpoint = tiny_checkpoint(tmp_path / "rgb.pt", size=64)
    out = tmp_path / "eval"
    arguments = ["--checkpoint", str(checkpoint), "--dataset", "image_folder", "--data-root", str(folder)]
    assert evaluate.main([*arguments, *ARGUMENTS, "--region-temperature", "0.7", "--out", str(out)]) == 0
    results = read_regions_csv(out / "regions.csv")
    assert {r.region for r in results} == {"whole", "hidden"} and all(r.items > 0 for r in results)
    markdown = (out / "regions.md").read_text()
    assert "### Target-object pixels\n\nNot reported: " + NO_OBJECT_MASKS in markdown
    assert "items of image_folder / test, seed 0; 2 hypotheses per item at temperature 0.7 (" in markdown
