"""training/ship_model.py turns a finished run into a model folder the node can load, with honest metrics.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fusionvae_core.checkpoint import file_sha256, load_checkpoint
from fusionvae_core.inference import load_backend
from fusionvae_core.region_report import SECTION_TITLE as REGIONS_TITLE

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def _python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "training" / script), *args], capture_output=True, text=True, timeout=600
    )


def _tiny_run(run_dir: Path, *overrides: str) -> Path:
    train = _python(
        "train.py", "--config", str(REPO / "training/configs/tiny.yaml"), "--run-dir", str(run_dir),
        "--set", "budget.max_steps=3", "--set", "run.eval_interval=100", *overrides,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    return run_dir


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_run(tmp_path_factory.mktemp("ship") / "run")


def test_shipped_folder_holds_a_loadable_model_and_metrics(finished_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "models" / "tiny"
    ship = _python(
        "ship_model.py", "--run-dir", str(finished_run), "--out", str(out),
        "--items", "8", "--val-items", "8", "--nll-samples", "2", "--mse-samples", "2", "--temperatures", "0.5", "1",
        "--region-samples", "2",
    )  # fmt: skip
    assert ship.returncode == 0, ship.stderr
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.md", "model.onnx"]
    assert not list(out.parent.glob(".ship_*")), "temporary folder left behind"

    shipped = load_checkpoint(out / "checkpoint.pt")
    source = load_checkpoint(finished_run / "checkpoints" / "last.pt")
    assert shipped["train_state"] == {}, "optimiser state must not be shipped"
    assert shipped["meta"]["steps"] == 3 and shipped["meta"]["train_config"]["budget"]["max_steps"] == 3
    for name, weights in source["state_dict"].items():
        assert np.array_equal(weights.numpy(), shipped["state_dict"][name].numpy()), name

    backend = load_backend(str(out / "model.onnx"), backend="onnxruntime", device="cpu")
    assert backend.metadata.source_checkpoint_sha256 == file_sha256(out / "checkpoint.pt")
    views = np.random.default_rng(0).integers(0, 256, (1, 2, backend.image_size, backend.image_size, 1), np.uint8)
    assert backend.infer(views, num_samples=2, seed=0).hypotheses.shape == (1, 2, 32, 32, 1)

    # the validation-best temperature is recorded in the checkpoint and the ONNX metadata, and used by default
    selection = shipped["meta"]["temperature_selection"]
    assert sorted(selection) == [0.5, 1.0]
    best = min(selection, key=selection.__getitem__)
    assert shipped["meta"]["temperature"] == best == backend.temperature
    explicit = backend.infer(views, num_samples=2, seed=0, temperature=best).hypotheses
    assert np.array_equal(backend.infer(views, num_samples=2, seed=0).hypotheses, explicit)

    metrics = (out / "metrics.md").read_text()
    assert f"sampling temperature {best:g}" in metrics and "--split val" in metrics
    assert "3 steps x batch 16" in metrics and "training/evaluate.py" in metrics and "--out EVAL_DIR" in metrics
    assert "NLL" in metrics and "MSE" in metrics  # evaluate.py's table is embedded

    # no visibility head: compositing is off, recorded like the temperature, and metrics.md says why
    assert shipped["meta"]["compositing"] is False and shipped["meta"]["compositing_selection"] == {}
    assert "compositing off, recorded in the checkpoint: the model has no visibility head" in metrics
    assert "--tables regions --split val" in metrics and "--tables paper --split val" in metrics
    assert f"at temperature {best:g} (" in metrics, "the region tables sample at the recorded temperature"
    regions, goals = metrics.split(REGIONS_TITLE)[1].split("## Goals")
    assert "Not reported: no object masks for this data" in regions and "| FusionVAE generated |" in regions
    goal_lines = [line for line in goals.splitlines() if line.startswith("- ")]
    assert goal_lines[0] == "- FusionVAE has no visibility head: its generated output stands in."
    assert "object pixels, K = 3: FusionVAE generated / view median: not measured (no object masks" in goals
    assert "whole image, FusionVAE generated below view median at every K: K=0: " in goals


def test_an_unfinished_run_is_refused_and_nothing_is_written(finished_run: Path, tmp_path: Path) -> None:
    stopped = tmp_path / "stopped"
    train = _python(
        "train.py", "--config", str(REPO / "training/configs/tiny.yaml"), "--run-dir", str(stopped),
        "--stop-at-step", "1",
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    out = tmp_path / "models" / "x"
    ship = _python("ship_model.py", "--run-dir", str(stopped), "--out", str(out))
    assert ship.returncode == 2
    assert "not 'finished'" in ship.stderr and ship.stderr.count("\n") == 1
    assert not out.exists()


def test_baselines_of_the_same_budget_and_references_join_the_test_table(finished_run: Path, tmp_path: Path) -> None:
    baseline = _tiny_run(tmp_path / "cvae_s", "--set", "model.kind=cvae_s")
    out = tmp_path / "models" / "tiny"
    ship = _python(
        "ship_model.py", "--run-dir", str(finished_run), "--out", str(out), "--compare", str(baseline),
        "--references", "mean", "max", "--items", "4", "--val-items", "4", "--nll-samples", "2",
        "--mse-samples", "2", "--temperatures", "1", "--region-samples", "2",
    )  # fmt: skip
    assert ship.returncode == 0, ship.stderr
    metrics = (out / "metrics.md").read_text()
    table, rest = metrics.split(REGIONS_TITLE)
    regions, rest = rest.split("## Where the information sits (latent diagnostics)")
    diagnostics = rest.split("## Training config")[0]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")][1:]
    assert rows == ["FusionVAE", "CVAE+S", "view mean", "view max"], rows
    whole_image = regions.split("### Hidden pixels")[0]
    rows = [line.split("|")[1].strip() for line in whole_image.splitlines() if line.startswith("| ")][1:]
    outputs = ("generated", "oracle composite")
    references = ["view mean", "view median", "best single view"]
    assert rows == [f"{m} {o}" for m in ("FusionVAE", "CVAE+S") for o in outputs] + references, rows
    assert "object pixels, FusionVAE generated ahead of CVAE+S generated: not measured (no object masks" in metrics
    rows = [line.split("|")[1:3] for line in diagnostics.splitlines() if line.startswith("| ")][1:]
    assert [(name.strip(), int(k)) for name, k in rows] == [(n, k) for n in ("FusionVAE", "CVAE+S") for k in range(4)]
    assert f"same budget and recipe: `{baseline}`" in metrics and f"{baseline}/checkpoints/last.pt" in metrics

    longer = _tiny_run(tmp_path / "longer", "--set", "model.kind=cvae_s", "--set", "budget.max_steps=4")
    refused = _python(
        "ship_model.py", "--run-dir", str(finished_run), "--out", str(tmp_path / "x"), "--compare", str(longer)
    )
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert f"--compare {longer}: trained with budget" in refused.stderr and not (tmp_path / "x").exists()
