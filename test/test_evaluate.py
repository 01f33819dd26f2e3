"""The paper's evaluation on really trained tiny models: metric properties and training/evaluate.py's outputs.

NLL with one importance sample is the negative single-sample ELBO in bits/dim; more samples do not raise the mean
NLL (paired test over many items) nor MSE_min (nested samples); the CLI writes the table (markdown + CSV) with the
paper's rows and columns, numbers that parse and agree, a figure of the documented layout, and fails cleanly.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_train_helpers import quick_overrides, train_arguments

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.checkpoint import save_checkpoint
from fusionvae_core.data import FusionDataset, build_dataset
from fusionvae_core.evaluation import (
    FIGURE_EXAMPLES_PER_K,
    VIEW_COUNTS,
    EvaluationSettings,
    FigureLayout,
    evaluate_model,
    evaluation_batches,
)
from fusionvae_core.latent_diagnostics import latent_diagnostics
from fusionvae_core.metrics import mse_min, nll_bpd, sample_noise
from fusionvae_core.training import CHECKPOINT_FILE, load_trained_model
from training import evaluate, train

pytestmark = pytest.mark.slow

KINDS_AND_STEPS = {"fusionvae": 10, "fcn": 2, "cvae": 4}
PER_K = ("K=0", "K=1", "K=2", "K=3", "avg")
BLOCKS = ("NLL", "MSE_min T=0.6", "MSE_min T=0.8", "MSE_min T=1")  # NLL, then MSE_min at the authors' temperatures
CSV_HEADER = ["model"] + [f"{block} {k} [1e-2]" for block in BLOCKS for k in PER_K]
REFERENCES = ("mean", "max", "median", "best_view")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Checkpoints of tiny FusionVAE, FCN and CVAE runs trained here through train.py's main."""
    root = tmp_path_factory.mktemp("runs")
    paths = {}
    for kind, steps in KINDS_AND_STEPS.items():
        assert train.main(train_arguments(root / kind, quick_overrides(steps, model__kind=kind))) == 0
        paths[kind] = root / kind / CHECKPOINT_FILE
    return paths


@pytest.fixture(scope="module")
def test_split() -> FusionDataset:
    """The FusionMNIST test split with its fixed views (seed 0)."""
    return build_dataset("fusion_mnist", "test", seed=0)


@pytest.mark.parametrize("kind", ["fusionvae", "cvae"])
def test_nll_with_one_importance_sample_is_the_negative_elbo_in_bits_per_dim(
    kind: str, checkpoints: dict[str, Path], test_split: FusionDataset
) -> None:
    model = load_trained_model(checkpoints[kind]).model
    settings = EvaluationSettings(num_importance=1, num_samples=1, batch_size=4, seed=3, max_items=8, chunk_size=1)
    scores = evaluate_model(kind, model, test_split, settings, torch.device("cpu"))
    assert scores.nll is not None
    dimensions_ln2 = 32 * 32 * math.log(2.0)
    for k in VIEW_COUNTS:
        negative_elbo = []
        for views, target, *_ in evaluation_batches(test_split, settings, k):
            with torch.no_grad():
                out = model(views, target, noise=sample_noise(model, target.shape[0], seed=3, sample_index=0))
            negative_elbo.append(-out.log_weight / dimensions_ln2)
        assert scores.nll[k] == pytest.approx(float(torch.cat(negative_elbo).mean()), rel=1e-5)


def test_mean_nll_does_not_grow_with_more_importance_samples(
    checkpoints: dict[str, Path], test_split: FusionDataset
) -> None:
    model = load_trained_model(checkpoints["fusionvae"]).model
    settings = EvaluationSettings(batch_size=4, max_items=48)
    one, many = [], []
    for views, target, *_ in evaluation_batches(test_split, settings, 1):
        one.append(nll_bpd(model, views, target, num_importance=1, seed=1, chunk_size=1))
        many.append(nll_bpd(model, views, target, num_importance=16, seed=1, chunk_size=16))
    # Per item, the 16-sample estimate need not be lower, but its expectation is (Burda et al.): a paired
    # one-sided test over 48 items, failing only if the mean gain is 3 standard errors below zero.
    gain = torch.cat(one) - torch.cat(many)
    standard_error = float(gain.std()) / math.sqrt(gain.numel())
    assert float(gain.mean()) >= -3 * standard_error, (float(gain.mean()), standard_error)


def test_mse_min_does_not_grow_with_more_samples(checkpoints: dict[str, Path], test_split: FusionDataset) -> None:
    settings = EvaluationSettings(batch_size=4, max_items=8)
    for kind in ("fusionvae", "cvae"):
        model = load_trained_model(checkpoints[kind]).model
        for k in (0, 2):
            for views, target, *_ in evaluation_batches(test_split, settings, k):
                few = mse_min(model, views, target, num_samples=4, seed=2, chunk_size=4)
                more = mse_min(model, views, target, num_samples=12, seed=2, chunk_size=4)
                assert (more <= few).all(), (kind, k)
    fcn = load_trained_model(checkpoints["fcn"]).model
    few, more = (
        evaluate_model("fcn", fcn, test_split, EvaluationSettings(num_samples=n, max_items=8), torch.device("cpu"))
        for n in (1, 16)
    )
    assert few.mse == more.mse, "a deterministic model's MSE_min is its MSE, whatever the sample count"


def _parse_markdown_table(text: str) -> list[list[str]]:
    """Cells of the markdown table in `text` (header first, separator dropped)."""
    rows = [line.strip().strip("|").split("|") for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows if not set("".join(row)) <= set("-: ")]


def test_evaluate_cli_writes_the_paper_table_and_figure(
    checkpoints: dict[str, Path], test_split: FusionDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    arguments = ["--checkpoint", *(str(checkpoints[kind]) for kind in KINDS_AND_STEPS), "--references", *REFERENCES]
    arguments += ["--split", "test", "--items", "6", "--nll-samples", "2", "--mse-samples", "2", "--batch-size", "3"]
    arguments += ["--chunk-size", "2", "--tables", "paper"]
    assert evaluate.main([*arguments, "--out", str(out)]) == 0
    names = ["FusionVAE", "FCN", "CVAE", "view mean", "view max", "view median", "best single view"]

    with (out / "table.csv").open(newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == CSV_HEADER and [row[0] for row in table[1:]] == names
    values = {row[0]: [float(cell) if cell else None for cell in row[1:]] for row in table[1:]}
    for name, row in values.items():
        nll, blocks = row[:5], [row[i : i + 5] for i in range(5, len(row), 5)]
        assert all(v is None for v in nll) == (name not in ("FusionVAE", "CVAE")), name
        for part in (nll, *blocks) if nll[0] is not None else blocks:
            assert all(v is not None and v > 0 for v in part)
            assert part[4] == pytest.approx(np.mean(part[:4]), abs=1e-5), f"{name}: avg is the mean over K"
        if name != "FusionVAE" and name != "CVAE":
            assert blocks[0] == blocks[1] == blocks[2], f"{name} is deterministic: no temperature dependence"
    cold, warm = values["FusionVAE"][5:10], values["FusionVAE"][15:20]
    assert cold != warm, "the MSE_min blocks must be sampled at their own temperatures"
    # units of 1e-2 and the K-view inputs: the view-mean reference recomputed by hand for K = 2
    items = [test_split[i] for i in range(6)]
    by_hand = np.mean([float((item.views[:2].mean(dim=0) - item.target).square().mean()) for item in items])
    assert values["view mean"][5 + 2] == pytest.approx(100 * by_hand, rel=1e-4)
    assert values["view median"][5 + 2] == pytest.approx(100 * by_hand, rel=1e-4), "of two views: their mean"
    oracle = np.mean([min(float((view - item.target).square().mean()) for view in item.views[:2]) for item in items])
    assert values["best single view"][5 + 2] == pytest.approx(100 * oracle, rel=1e-4), "the closer of the 2 views"

    markdown = (out / "table.md").read_text()
    cells = _parse_markdown_table(markdown)
    assert cells[0] == ["model", *(column.removesuffix(" [1e-2]") for column in CSV_HEADER[1:])]
    for row in cells[1:]:
        assert len(row) == 1 + 5 * len(BLOCKS)
        expected = values[row[0]]
        for cell, value in zip(row[1:], expected):
            if value is None:
                assert cell == "–"
            else:
                assert float(cell.strip("*")) == pytest.approx(value, abs=0.006)
    assert "importance-sampled with 2 posterior samples" in markdown
    assert "over the 28×28 digit (2-px padding cropped, divided by 784 dimensions" in markdown
    assert capsys.readouterr().out.startswith("| model |")

    _check_figure(out / "figure.png", test_split)
    _check_diagnostics(out / "diagnostics.md", checkpoints, test_split)


def _check_diagnostics(path: Path, checkpoints: dict[str, Path], test_split: FusionDataset) -> None:
    """diagnostics.md: rows for the latent-variable models only (K = 0..3 each), one KL per latent group, and the
    per-batch values (batch size 3) averaged to what one batch of all 6 items gives."""
    cells = _parse_markdown_table(path.read_text())
    assert cells[0][:2] == ["model", "K"]
    rows = {(row[0], int(row[1])): row[2:] for row in cells[1:]}
    assert sorted(rows) == [(name, k) for name in ("CVAE", "FusionVAE") for k in VIEW_COUNTS]
    settings = EvaluationSettings(batch_size=6, max_items=6)
    for name, kind in (("FusionVAE", "fusionvae"), ("CVAE", "cvae")):
        model = load_trained_model(checkpoints[kind]).model
        for k in VIEW_COUNTS:
            groups, total, prior_mse, posterior_mse = rows[(name, k)]
            kl = [float(value) for value in groups.split(", ")]
            assert (
                len(kl) == len(model.latent_shapes())
                and min(kl) >= 0
                and float(total) == pytest.approx(sum(kl), abs=0.2)
            )
            ((views, target, *_),) = evaluation_batches(test_split, settings, k)
            whole = latent_diagnostics(model, views, target)
            assert float(prior_mse) == pytest.approx(100 * whole.prior_mean_mse, abs=0.006), (name, k)
            assert float(posterior_mse) == pytest.approx(100 * whole.posterior_mean_mse, abs=0.006), (name, k)
            assert kl == pytest.approx(whole.kl_per_group, abs=0.06)


def test_evaluate_cli_writes_no_diagnostics_without_a_latent_variable_model(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    out.mkdir()
    (out / "diagnostics.md").write_text("from an earlier evaluation of other models\n")
    arguments = ["--checkpoint", str(checkpoints["fcn"]), "--references", "mean", "--items", "2", "--mse-samples", "1"]
    assert evaluate.main([*arguments, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["figure.png", "regions.csv", "regions.md", "table.csv", "table.md"]


def _check_figure(path: Path, test_split: FusionDataset) -> None:
    """PNG with 12 rows (3 per K) and columns: 3 inputs, target, 3 + 1 + 3 model outputs, 4 references."""
    image = Image.open(path)
    assert image.format == "PNG"
    layout = FigureLayout(32)
    columns = 3 + 1 + 3 + 1 + 3 + len(REFERENCES)
    assert image.size == layout.size(len(VIEW_COUNTS) * FIGURE_EXAMPLES_PER_K, columns)
    pixels = np.asarray(image.convert("L"))

    def cell(row: int, column: int) -> np.ndarray:
        top = layout.top_margin + (layout.pad + row * (32 + layout.pad)) * layout.scale
        left = layout.left_margin + (layout.pad + column * (32 + layout.pad)) * layout.scale
        return pixels[top : top + 32 * layout.scale : layout.scale, left : left + 32 * layout.scale : layout.scale]

    first = test_split[0]
    expected_target = (first.target[0] * 255).round().numpy()
    for row in (0, FIGURE_EXAMPLES_PER_K):  # first example of K = 0 and of K = 1
        assert np.abs(cell(row, 3).astype(float) - expected_target).max() <= 1
    assert (cell(0, 0) == 40).all(), "no input view when K = 0"
    expected_view = (first.views[0, 0] * 255).round().numpy()
    assert np.abs(cell(FIGURE_EXAMPLES_PER_K, 0).astype(float) - expected_view).max() <= 1


def _exported_tiny(path: Path, image_size: int) -> None:
    """An untrained tiny FusionVAE checkpoint for images of `image_size`²."""
    model = FusionVAE(ModelConfig.preset("tiny", image_size=image_size))
    save_checkpoint(path, model_kind="fusionvae", model_config=model.config.to_dict(), state_dict=model.state_dict())


@pytest.mark.parametrize(
    ("problem", "message"),
    [("missing", "file not found"), ("garbage", "cannot be read"), ("wrong_size", "expects 1-channel 16² images")],
)
def test_evaluate_cli_fails_in_one_line_without_writing(
    problem: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.pt", tmp_path / "bad.pt"
    _exported_tiny(good, 32)
    if problem == "garbage":
        bad.write_bytes(b"\x00garbage" * 100)
    elif problem == "wrong_size":
        _exported_tiny(bad, 16)
    out = tmp_path / "eval"
    out.mkdir()
    (out / "table.md").write_text("previous results\n")
    code = evaluate.main(["--checkpoint", str(good), str(bad), "--dataset", "fusion_mnist", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("evaluate.py: error: ") and message in err, err
    assert (
        sorted(p.name for p in out.iterdir()) == ["table.md"] and (out / "table.md").read_text() == "previous results\n"
    )
