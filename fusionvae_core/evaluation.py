"""The paper's evaluation (sec. 5.5, tables 1–3, fig. 3): NLL in bits/dim and MSE_min per view count K.

Every model sees the same fixed-seed items with K = 0, 1, 2, 3 views (the K-view input is the first K of the
item's three fixed views). Latent-variable models (FusionVAE, CVAE) get the importance-sampled NLL
(`metrics.nll_bpd`, on the 28×28 digit for FusionMNIST-style data as NVAE scores MNIST) and MSE_min over prior
samples (`metrics.mse_min`) at each of the authors' temperatures (0.6, 0.8, 1.0); deterministic predictors (FCN,
the view mean/max/median references) only an MSE, which is their MSE_min for any number of samples and any
temperature (the best-single-view oracle: the lowest MSE among the K views).
Results become the paper's table layout (markdown, CSV) and a figure of inputs, target and hypotheses per model.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from fusionvae_core.data import FusionBatch, FusionDataset, make_loader
from fusionvae_core.data.digits import DIGIT_BORDER
from fusionvae_core.metrics import DEFAULT_CHUNK_SIZE, mse_min, nll_bpd
from fusionvae_core.model import FusionVAE
from fusionvae_core.region_metrics import oracle_pick

VIEW_COUNTS = (0, 1, 2, 3)
# what training/evaluate.py writes into its output folder (diagnostics.md only when a latent-variable model is scored)
TABLE_MARKDOWN, TABLE_CSV, FIGURE_PNG, DIAGNOSTICS_MARKDOWN = "table.md", "table.csv", "figure.png", "diagnostics.md"
PAPER_TEMPERATURES = (0.6, 0.8, 1.0)  # the temperatures of the authors' figures
MNIST_LIKE = ("fusion_mnist", "fusion_fashion")  # 28×28 digits padded to 32×32
TABLE_SCALE = 100.0  # the paper reports both metrics in units of 1e-2
FIGURE_HYPOTHESES = 3  # samples per latent-variable model in the figure (the paper's fig. 3)
FIGURE_EXAMPLES_PER_K = 3  # rows per view count in the figure
DISPLAY_NAMES = {
    "fusionvae": "FusionVAE",
    "fcn": "FCN",
    "fcn_s": "FCN+S",
    "cvae": "CVAE",
    "cvae_s": "CVAE+S",
    "mean": "view mean",
    "max": "view max",
    "median": "view median",
    "best_view": "best single view",
}


def temperature_value(text: str) -> float:
    """argparse type: a sampling temperature > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a temperature > 0, got {text}")
    return value


def add_temperatures_option(parser: argparse.ArgumentParser, purpose: str) -> None:
    """The `--temperatures T [T ...]` option of the evaluation tools (default: the authors' 0.6 0.8 1.0)."""
    parser.add_argument(
        "--temperatures",
        type=temperature_value,
        nargs="+",
        default=list(PAPER_TEMPERATURES),
        help=f"{purpose} (default: the authors' {' '.join(f'{t:g}' for t in PAPER_TEMPERATURES)})",
    )


def score_border(dataset_name: str) -> int:
    """Pixels per edge left out of the NLL: the digits' zero padding for FusionMNIST-style data, else none."""
    return DIGIT_BORDER if dataset_name in MNIST_LIKE else 0


@dataclass(frozen=True)
class EvaluationSettings:
    """Sample counts, batch size, seed (items' views and sampling noise), MSE_min temperatures, item limit, chunk
    size (samples evaluated together per item: larger is faster on a GPU; estimates agree up to float rounding), the
    NLL's `border` (pixels per edge left out, see `score_border`) and the hypotheses per item and their temperature
    for the region metrics (region_evaluation.py)."""

    num_importance: int = 100
    num_samples: int = 100
    batch_size: int = 100
    seed: int = 0
    temperatures: tuple[float, ...] = PAPER_TEMPERATURES
    max_items: int | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    border: int = 0
    region_samples: int = 8
    region_temperature: float = 1.0

    def item_count(self, dataset: FusionDataset) -> int:
        """How many items of `dataset` are scored: the first `max_items`, or all."""
        return len(dataset) if self.max_items is None else min(self.max_items, len(dataset))


@dataclass
class ModelScores:
    """Mean NLL (bits/dim; None for deterministic predictors) per K and MSE_min per temperature and K."""

    name: str
    mse: dict[float, dict[int, float]] = field(default_factory=dict)
    nll: dict[int, float] | None = None

    def row(self) -> list[float | None]:
        """The table row in units of 1e-2: NLL K=0..3, avg (None if undefined), then per temperature MSE_min K=0..3,
        avg."""
        nll: list[float | None] = [None] * (len(VIEW_COUNTS) + 1)
        if self.nll is not None:
            nll = _with_average([self.nll[k] for k in VIEW_COUNTS])
        mse = [value for per_k in self.mse.values() for value in _with_average([per_k[k] for k in VIEW_COUNTS])]
        return [*nll, *mse]


def _with_average(values: list[float]) -> list[float | None]:
    """Values per K and their average, scaled to the table's units."""
    return [v * TABLE_SCALE for v in [*values, float(np.mean(values))]]


def display_name(kind: str) -> str:
    """The paper's name of a model kind ("cvae_s" -> "CVAE+S"), or the kind itself if unknown."""
    return DISPLAY_NAMES.get(kind, kind)


def is_deterministic(model: Any) -> bool:
    """Whether `model` predicts one image per input (then it has `predict(views)` and no likelihood estimate)."""
    return bool(getattr(model, "deterministic", False))


def candidate_images(model: Any, views: torch.Tensor) -> torch.Tensor:
    """[B, S, C, H, W]: a deterministic predictor's images, of which the one closest to the target is scored: a view
    reference's candidates (ViewReference), else the one prediction (S = 1)."""
    with torch.no_grad():
        if hasattr(model, "candidates"):
            return cast(torch.Tensor, model.candidates(views))
        return cast(torch.Tensor, model.predict(views)).unsqueeze(1)


def evaluate_model(
    name: str, model: Any, dataset: FusionDataset, settings: EvaluationSettings, device: torch.device
) -> ModelScores:
    """Scores of `model` on `dataset` for every K and temperature (module docstring); per-item values averaged."""
    scores = ModelScores(name, mse={t: {} for t in settings.temperatures}, nll=None if is_deterministic(model) else {})
    for k in VIEW_COUNTS:
        nll_values: list[torch.Tensor] = []
        mse_values: dict[float, list[torch.Tensor]] = {t: [] for t in settings.temperatures}
        for batch in tqdm(evaluation_batches(dataset, settings, k), desc=f"{name} K={k}", disable=None):
            views, target = batch.views.to(device), batch.target.to(device)
            if is_deterministic(model):
                errors = (candidate_images(model, views) - target.unsqueeze(1)).square().flatten(2).mean(dim=2)
                for values in mse_values.values():
                    values.append(errors.amin(dim=1).cpu())
                continue
            # metrics are written against FusionVAE; the CVAE baselines provide the same sampling interface
            latent_model = cast(FusionVAE, model)
            chunk, seed = settings.chunk_size, settings.seed
            nll_values.append(
                nll_bpd(
                    latent_model,
                    views,
                    target,
                    settings.num_importance,
                    seed=seed,
                    chunk_size=chunk,
                    border=settings.border,
                )
            )
            for temperature, values in mse_values.items():
                errors = mse_min(
                    latent_model,
                    views,
                    target,
                    settings.num_samples,
                    seed=seed,
                    temperature=temperature,
                    chunk_size=chunk,
                )
                values.append(errors.cpu())
        for temperature, values in mse_values.items():
            scores.mse[temperature][k] = float(torch.cat(values).mean())
        if scores.nll is not None:
            scores.nll[k] = float(torch.cat(nll_values).mean())
    return scores


def evaluation_batches(dataset: FusionDataset, settings: EvaluationSettings, k: int) -> list[FusionBatch]:
    """The evaluation items (the first `max_items`, if set) with K = k views, in batches of `batch_size`."""
    loader = make_loader(dataset, settings.batch_size, shuffle=False, num_workers=0, seed=settings.seed, fixed_k=k)
    limit = settings.item_count(dataset)
    batches, seen = [], 0
    for batch in loader:
        if seen >= limit:
            break
        keep = min(batch.target.shape[0], limit - seen)
        mask = batch.object_mask
        batches.append(
            FusionBatch(
                batch.views[:keep],
                batch.target[:keep],
                batch.visibility[:keep],
                None if mask is None else mask[:keep],
            )
        )
        seen += keep
    return batches


# ------------------------------------------------------------------------------------------------------ tables
def table_columns(temperatures: Sequence[float] = PAPER_TEMPERATURES) -> list[str]:
    """Column names of the results table / CSV after "model" (both metrics in units of 1e-2, as the paper): NLL per
    K and avg, then one MSE_min block (K and avg) per temperature."""
    keys = [*(f"K={k}" for k in VIEW_COUNTS), "avg"]
    columns = [f"NLL {key}" for key in keys]
    for temperature in temperatures:
        columns += [f"MSE_min T={temperature:g} {key}" for key in keys]
    return columns


def markdown_table(
    rows: Sequence[tuple[str, Sequence[float | None]]],
    columns: Sequence[str],
    decimals: int = 2,
    bold_lowest: bool = True,
) -> str:
    """Markdown table (rows = models, `columns` as `table_columns`) with "–" for undefined cells and, if
    `bold_lowest`, each column's lowest value in bold."""
    best = [_lowest(values[i] for _, values in rows) if bold_lowest else None for i in range(len(columns))]
    lines = ["| model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for name, values in rows:
        cells = []
        for value, lowest in zip(values, best):
            if value is None:
                cells.append("–")
                continue
            text = f"{value:.{decimals}f}"
            cells.append(f"**{text}**" if lowest is not None and math.isclose(value, lowest) else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _lowest(values: Iterable[float | None]) -> float | None:
    """Smallest defined value, or None if there is none."""
    return min((v for v in values if v is not None), default=None)


def write_csv(path: Path, scores: Sequence[ModelScores], temperatures: Sequence[float] = PAPER_TEMPERATURES) -> None:
    """CSV with a "model" column and the table's columns (units of 1e-2; empty where undefined)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", *(f"{column} [1e-2]" for column in table_columns(temperatures))])
        for score in scores:
            writer.writerow([score.name, *("" if v is None else f"{v:.6f}" for v in score.row())])


def read_csv(path: Path) -> tuple[list[str], list[tuple[str, list[float | None]]]]:
    """What `write_csv` wrote: the column names (without unit) and rows (model name, values in units of 1e-2, None
    where empty)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = [column.removesuffix(" [1e-2]") for column in next(reader)[1:]]
        return header, [(row[0], [float(v) if v else None for v in row[1:]]) for row in reader]


# ------------------------------------------------------------------------------------------------------ figure
def compose_grid(rows: Sequence[Sequence[torch.Tensor | None]], pad: int = 2) -> np.ndarray:
    """uint8 RGB image [H, W, 3] tiling equally sized images [C, h, w] in [0, 1]; None leaves a dark cell."""
    first = next(cell for row in rows for cell in row if cell is not None)
    _, height, width = first.shape
    columns = max(len(row) for row in rows)
    grid = np.full((len(rows) * (height + pad) + pad, columns * (width + pad) + pad, 3), 40, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell is None:
                continue
            image = (cell.detach().float().clamp(0, 1).cpu() * 255).round().to(torch.uint8)
            image = image.expand(3, -1, -1) if image.shape[0] == 1 else image
            top, left = pad + r * (height + pad), pad + c * (width + pad)
            grid[top : top + height, left : left + width] = image.permute(1, 2, 0).numpy()
    return grid


@dataclass(frozen=True)
class FigureLayout:
    """Geometry of the labelled figure: cell size in pixels after upscaling and the title / label margins."""

    image_size: int
    scale: int = 2
    pad: int = 2
    top_margin: int = 16
    left_margin: int = 34

    @property
    def cell(self) -> int:
        """Pixels per grid cell (image plus padding) after upscaling."""
        return (self.image_size + self.pad) * self.scale

    def size(self, rows: int, columns: int) -> tuple[int, int]:
        """(width, height) of the PNG for a grid of `rows` × `columns` images."""
        return (
            self.left_margin + (columns * (self.image_size + self.pad) + self.pad) * self.scale,
            self.top_margin + (rows * (self.image_size + self.pad) + self.pad) * self.scale,
        )


def figure_columns(models: Sequence[tuple[str, Any]]) -> list[tuple[str, int]]:
    """Column groups of the figure: 3 input views, the target, then each model's hypotheses (1 if deterministic)."""
    header: list[tuple[str, int]] = [("inputs", 3), ("target", 1)]
    return header + [(name, 1 if is_deterministic(model) else FIGURE_HYPOTHESES) for name, model in models]


def render_figure(
    path: Path,
    models: Sequence[tuple[str, Any]],
    dataset: FusionDataset,
    device: torch.device,
    *,
    seed: int = 0,
    temperature: float = 1.0,
) -> None:
    """PNG like the paper's fig. 3: per K, FIGURE_EXAMPLES_PER_K rows of inputs, target and each model's outputs."""
    rows: list[list[torch.Tensor | None]] = []
    labels: list[str] = []
    with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for k in VIEW_COUNTS:
            loader = make_loader(dataset, FIGURE_EXAMPLES_PER_K, shuffle=False, num_workers=0, seed=seed, fixed_k=k)
            views, target, *_ = next(iter(loader))
            outputs = [
                _hypotheses(model, views.to(device), target.to(device), temperature).cpu() for _, model in models
            ]
            for b in range(target.shape[0]):
                row: list[torch.Tensor | None] = [views[b, i] if i < k else None for i in range(3)]
                row.append(target[b])
                for output in outputs:
                    row.extend(output[b])
                rows.append(row)
                labels.append(f"K={k}")
    layout = FigureLayout(dataset.image_size)
    _save_labelled_grid(path, compose_grid(rows, layout.pad), figure_columns(models), labels, layout)


def _hypotheses(model: Any, views: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """[B, S, C, H, W]: the scored image (S = 1) of a deterministic model (the best single view's oracle pick), else
    FIGURE_HYPOTHESES samples."""
    if is_deterministic(model):
        return oracle_pick(candidate_images(model, views), target).unsqueeze(1)
    was_training = model.training
    model.eval()
    samples = cast(torch.Tensor, model.sample(views, num_samples=FIGURE_HYPOTHESES, temperature=temperature))
    model.train(was_training)
    return samples


def _save_labelled_grid(
    path: Path, grid: np.ndarray, header: list[tuple[str, int]], labels: list[str], layout: FigureLayout
) -> None:
    """Upscale the grid, add column-group titles on top and K labels on the left, save as PNG."""
    scale = layout.scale
    image = Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.Resampling.NEAREST)
    canvas = Image.new("RGB", layout.size(len(labels), sum(span for _, span in header)), (255, 255, 255))
    canvas.paste(image, (layout.left_margin, layout.top_margin))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    column = 0
    for title, span in header:
        draw.text((layout.left_margin + layout.pad * scale + column * layout.cell, 2), title, fill=(0, 0, 0), font=font)
        column += span
    for row, label in enumerate(labels):
        top = layout.top_margin + layout.pad * scale + row * layout.cell + layout.cell // 3
        draw.text((2, top), label, fill=(0, 0, 0), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
