"""training/reproduce_fusion_mnist.py end to end on a tiny budget: it resumes an interrupted run, trains the missing
ones through train.py, evaluates, writes the report, keeps finished runs on a second call and refuses runs made
with another budget."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_train_helpers import checkpoint_of

from fusionvae_core.training import CHECKPOINT_FILE
from fusionvae_core.training.logging import read_metrics
from training import reproduce_fusion_mnist as reproduce
from training import train

TINY = {
    "model.preset": "tiny",
    "model.overrides.image_size": 32,
    "data.train_items": 32,
    "data.eval_items": 4,
    "data.num_workers": 0,
    "run.eval_batches": 1,
    "run.grid_examples": 1,
    "optim.warmup_steps": 1,
}


@pytest.mark.slow  # seven real train.py / evaluate.py processes (~60-80 s on 2 shared cores)
def test_reproduction_resumes_trains_evaluates_reports_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, out = tmp_path / "runs", tmp_path / "results" / "fusion_mnist.md"
    arguments = ["--steps", "2", "--batch-size", "4", "--nll-samples", "2", "--mse-samples", "2", "--items", "4"]
    arguments += ["--runs-dir", str(runs), "--out", str(out)]
    arguments += [part for key, value in TINY.items() for part in ("--set", f"{key}={value}")]
    # an interrupted FusionVAE run, started with exactly the command the script uses, stopped after one step
    overrides = reproduce.training_overrides(reproduce.parse_args(arguments))
    sets = [part for item in overrides for part in ("--set", item)]
    fusionvae_dir = runs / "fusionvae"
    first = ["--config", str(reproduce.config_path("fusionvae")), "--run-dir", str(fusionvae_dir), *sets]
    assert train.main([*first, "--stop-at-step", "1"]) == 0
    capsys.readouterr()

    assert reproduce.main(arguments) == 0
    printed = capsys.readouterr().out
    assert "fusionvae: " in printed and "(stopped), resuming" in printed
    assert all(f"{kind}: training into" in printed for kind in ("fcn", "fcn_s", "cvae", "cvae_s"))
    assert [record["step"] for record in read_metrics(fusionvae_dir)] == [0, 1]
    for kind in reproduce.TRAINING_ORDER:
        payload = checkpoint_of(runs / kind)
        assert payload["meta"]["status"] == "finished" and payload["train_state"]["step"] == 2
        assert payload["model_kind"] == kind

    report = out.read_text()
    assert "python training/reproduce_fusion_mnist.py --steps 2" in report
    assert "4000/500/500" in report and "seed 0" in report and "first 4 test items" in report
    assert report.count("| 2 × 4 |") == 5 and "CPU process" in report
    measured = report.split("## Measured here")[1].split("## Paper")[0]
    rows = [line.split("|")[1].strip() for line in measured.splitlines() if line.startswith("| ")][1:]
    assert rows == ["FCN", "FCN+S", "CVAE", "CVAE+S", "FusionVAE", "view mean", "view max"]
    assert re.search(r"\| FusionVAE \| [\d.*]+ \|", measured), "FusionVAE has NLL numbers"
    paper = report.split("## Paper")[1]
    assert "| FusionVAE | **15.93** | **14.17** | 13.70 | 13.48 | **14.39** |" in paper and "**1.45**" in paper
    diagnostics = report.split("## Where the information sits (latent diagnostics)")[1]
    names = [line.split("|")[1].strip() for line in diagnostics.splitlines() if line.startswith("| ")][1:]
    assert names == [name for name in ("CVAE", "CVAE+S", "FusionVAE") for _ in range(4)], "latent models, K = 0..3"
    figure = out.parent / "fusion_mnist" / "figure.png"
    assert figure.is_file() and "(fusion_mnist/figure.png)" in report

    stamps = {kind: (runs / kind / CHECKPOINT_FILE).stat().st_mtime_ns for kind in reproduce.TRAINING_ORDER}
    assert reproduce.main(arguments) == 0
    printed = capsys.readouterr().out
    assert printed.count("is finished, kept") == 5 and "training into" not in printed
    assert stamps == {kind: (runs / kind / CHECKPOINT_FILE).stat().st_mtime_ns for kind in reproduce.TRAINING_ORDER}

    assert reproduce.main([*arguments, "--steps", "3"]) == 2
    err = capsys.readouterr().err
    assert "different config (budget.max_steps)" in err and len(err.strip().splitlines()) == 1


def test_ranking_names_where_fusionvae_is_not_first() -> None:
    columns = ["NLL K=0", "NLL avg", "MSE_min T=0.6 avg", "MSE_min T=1 avg"]
    rows = [
        ("CVAE", [18.0, 16.0, 2.0, 2.5]),
        ("FusionVAE", [17.0, 15.0, 2.2, 2.4]),
        ("view mean", [None, None, 9.0, 9.0]),
    ]
    lines = reproduce.ranking_section(rows, columns)
    assert "- NLL avg: FusionVAE 15.00 < CVAE 16.00" in lines
    assert "- MSE_min T=0.6 avg: CVAE 2.00 < FusionVAE 2.20 < view mean 9.00" in lines
    assert not any(line.startswith("- NLL K=0") for line in lines), "only the averages are ranked"
    (verdict,) = [line for line in lines if line.startswith("FusionVAE is")]
    assert verdict.startswith("FusionVAE is not first on MSE_min T=0.6 avg (first: CVAE):")
    rows[0][1][2] = 3.0
    assert "FusionVAE is first on every average, as in the paper." in reproduce.ranking_section(rows, columns)
