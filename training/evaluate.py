"""Score trained checkpoints with the paper's metrics (sec. 5.5) and write its table layout and a fig. 3-like PNG,
and with the metrics that look where a robot looks (target objects, hidden pixels, uncertainty, visibility).

    python training/evaluate.py --checkpoint runs/mnist/checkpoints/last.pt runs/fcn/checkpoints/last.pt \
        --references mean max median --dataset fusion_mnist --split test --out results/mnist_eval

"paper" tables (--tables): per model, NLL in bits/dim by importance sampling (latent-variable models only; on
FusionMNIST-style data over the 28×28 digit, /784, as NVAE scores MNIST) and MSE_min over prior samples at each of
--temperatures (default the authors' 0.6 0.8 1.0), for K = 0..3 views and their average, in units of 1e-2, next to
the --references (view mean, max, median; best_view: the oracle-picked view). OUT receives table.md, table.csv,
figure.png and, when a latent-variable model is scored, diagnostics.md (KL per latent group, prior- vs posterior-mean
error per K: why a model ranks where it does).
"regions" tables: regions.md and regions.csv (fusionvae_core/region_evaluation.py): per K the mean-image MSE and
MSE_min of --region-samples hypotheses over the whole image, the target-object pixels (data with object masks) and
the pixels no given view shows; generated, composited (models with a visibility head) and oracle-composited
outputs next to the view mean, view median and best single view; uncertainty quality (Spearman, AUSE) and
visibility IoU.
Missing or unusable checkpoints and bad arguments print one line and exit with status 2 before anything is written.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from fusionvae_core.baselines import REFERENCE_NAMES, ViewReference
from fusionvae_core.checkpoint import CheckpointError
from fusionvae_core.data import DATASET_NAMES, SPLITS, DatasetError, FusionDataset, build_dataset
from fusionvae_core.evaluation import (
    DIAGNOSTICS_MARKDOWN,
    FIGURE_PNG,
    MNIST_LIKE,
    TABLE_CSV,
    TABLE_MARKDOWN,
    EvaluationSettings,
    ModelScores,
    add_temperatures_option,
    display_name,
    evaluate_model,
    markdown_table,
    render_figure,
    score_border,
    table_columns,
    temperature_value,
    write_csv,
)
from fusionvae_core.latent_diagnostics import diagnostics_section
from fusionvae_core.metrics import DEFAULT_CHUNK_SIZE
from fusionvae_core.region_evaluation import evaluate_regions
from fusionvae_core.region_report import REGIONS_CSV, REGIONS_MARKDOWN, regions_markdown, write_regions_csv
from fusionvae_core.training import ConfigError, TrainedModel, load_trained_model
from fusionvae_core.training.config import stored_data

MIN_TABLE_MSE_SAMPLES = 100  # fewer prior samples penalise the most diverse model; the authors used 1000
TABLES = ("paper", "regions")


class UsageError(ValueError):
    """Arguments that do not fit together (e.g. a model whose image size differs from the dataset's)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, nargs="*", default=[], help="checkpoints to score (in row order)")
    parser.add_argument("--references", nargs="*", default=[], choices=REFERENCE_NAMES, help="pixel-wise view fusion")
    parser.add_argument("--dataset", choices=DATASET_NAMES, help="default: the first checkpoint's dataset")
    parser.add_argument(
        "--data-root", help="dataset folder (default: the first checkpoint's training data, else the embedded one)"
    )
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument("--items", type=_positive, help="score only the first N items of the split")
    parser.add_argument("--nll-samples", type=_positive, help="importance samples (default 1000 for MNIST-like, 100)")
    parser.add_argument(
        "--mse-samples",
        type=_positive,
        default=MIN_TABLE_MSE_SAMPLES,
        help=f"prior samples for MSE_min (default {MIN_TABLE_MSE_SAMPLES}; the authors' final evaluation used 1000)",
    )
    add_temperatures_option(parser, "prior temperatures of the MSE_min samples, one table block each")
    parser.add_argument("--figure-temperature", type=temperature_value, default=0.8, help="temperature of figure.png")
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES), help="what to write (default all)")
    parser.add_argument("--region-samples", type=_positive, default=8, help="hypotheses per item for regions.md")
    parser.add_argument(
        "--region-temperature",
        type=temperature_value,
        help="temperature of those hypotheses (default: the first checkpoint's recommended one, else 1)",
    )
    parser.add_argument("--batch-size", type=_positive, default=100, help="items per batch")
    parser.add_argument(
        "--chunk-size", type=_positive, default=DEFAULT_CHUNK_SIZE, help="samples per item evaluated together"
    )
    parser.add_argument("--seed", type=int, default=0, help="fixes the split's views and all sampling noise")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: CUDA when available, else CPU")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    if not args.checkpoint and not args.references:
        parser.error("give at least one --checkpoint or --references")
    return args


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def load_models(paths: list[Path]) -> list[tuple[str, TrainedModel]]:
    """Every checkpoint's network with a table label (the paper's name, plus the config name if ambiguous)."""
    loaded = [load_trained_model(path) for path in paths]
    counts = Counter(trained.kind for trained in loaded)
    labels = []
    for path, trained in zip(paths, loaded):
        label = display_name(trained.kind)
        if counts[trained.kind] > 1:
            label += f" ({trained.meta.get('config_name') or path})"
        labels.append(label)
    if len(set(labels)) < len(labels):
        labels = [f"{label} [{path}]" for label, path in zip(labels, paths)]
    return list(zip(labels, loaded))


def check_compatible(models: list[tuple[str, TrainedModel]], dataset: FusionDataset) -> None:
    """UsageError unless every model's image size and channels match the dataset; warn about a foreign dataset."""
    for label, trained in models:
        config = trained.model.config
        if (config.channels, config.image_size) != (dataset.channels, dataset.image_size):
            raise UsageError(
                f"{label} expects {config.channels}-channel {config.image_size}² images, {dataset.name} has "
                f"{dataset.channels}-channel {dataset.image_size}² images"
            )
        trained_on = trained.meta.get("dataset")
        if trained_on not in (None, dataset.name):
            print(
                f"evaluate.py: warning: {label} was trained on {trained_on}, scored on {dataset.name}", file=sys.stderr
            )


def report_header(args: argparse.Namespace, dataset: FusionDataset, settings: EvaluationSettings) -> str:
    """Markdown lines above the table: data, metric definitions and sample counts."""
    items = settings.item_count(dataset)
    size = dataset.image_size - 2 * settings.border
    scored = (
        f"over the {size}×{size} digit ({settings.border}-px padding cropped, divided by {dataset.channels * size**2} "
        "dimensions, as NVAE scores MNIST)"
        if settings.border
        else f"over all {dataset.channels * size**2} dimensions"
    )
    temperatures = ", ".join(f"{t:g}" for t in settings.temperatures)
    return (
        f"# Evaluation on {dataset.name} / {args.split} ({items} items, seed {settings.seed})\n\n"
        f"NLL: −log p(y | x) in 10⁻² bits/dim {scored}, importance-sampled with {settings.num_importance} "
        "posterior samples (– : deterministic predictor, no likelihood). "
        f"MSE_min: per-image minimum over {settings.num_samples} prior samples of the mean squared error over the "
        f"whole image in [0, 1] pixel units, in 10⁻², one block per prior temperature T ({temperatures}). "
        "Columns: number K of input views, avg = mean over K.\n\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Evaluate; returns the process exit status."""
    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        if args.device == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device cuda was requested but torch sees no CUDA device")
        models = load_models(args.checkpoint)
        dataset_name = args.dataset or (models[0][1].meta.get("dataset") if models else None)
        if dataset_name is None:
            raise UsageError("--dataset is required when no checkpoint names its dataset")
        trained_on = stored_data(models[0][1].train_state, str(args.checkpoint[0])) if models else None
        data_root, options = args.data_root, {}
        if trained_on is not None and trained_on[0] == dataset_name:  # the training run's data, split and size
            data_root, options = args.data_root or trained_on[1], trained_on[2]
        dataset = build_dataset(dataset_name, args.split, data_root, seed=args.seed, **options)
        check_compatible(models, dataset)
    except (CheckpointError, ConfigError, DatasetError, UsageError) as error:
        print(f"evaluate.py: error: {error}", file=sys.stderr)
        return 2
    settings = EvaluationSettings(
        num_importance=args.nll_samples or (1000 if dataset.name in MNIST_LIKE else 100),
        num_samples=args.mse_samples,
        batch_size=args.batch_size,
        seed=args.seed,
        temperatures=tuple(args.temperatures),
        max_items=args.items,
        chunk_size=args.chunk_size,
        border=score_border(dataset.name),
        region_samples=args.region_samples,
        region_temperature=args.region_temperature or region_temperature(models),
    )
    networks: list[tuple[str, Any]] = [(label, trained.model.to(device)) for label, trained in models]
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    if "paper" in args.tables:
        written += write_paper_tables(args, networks, dataset, settings, device)
    if "regions" in args.tables:
        written += write_region_tables(args, networks, dataset, settings, device)
    print(f"wrote {', '.join(str(path) for path in written)}")
    return 0


def region_temperature(models: list[tuple[str, TrainedModel]]) -> float:
    """The temperature of the region metrics' hypotheses: the first checkpoint's recommended one (ship_model.py
    records it), else 1, the same for every model so that they compare."""
    return float(models[0][1].meta.get("temperature", 1.0)) if models else 1.0


def write_paper_tables(
    args: argparse.Namespace,
    networks: list[tuple[str, Any]],
    dataset: FusionDataset,
    settings: EvaluationSettings,
    device: torch.device,
) -> list[Path]:
    """table.md, table.csv, figure.png and diagnostics.md (if a latent-variable model is scored) in args.out, with
    the --references as rows; prints the table and returns the files written."""
    predictors = networks + [(display_name(method), ViewReference(method)) for method in args.references]
    scores: list[ModelScores] = [evaluate_model(name, model, dataset, settings, device) for name, model in predictors]
    table = markdown_table([(score.name, score.row()) for score in scores], table_columns(settings.temperatures))
    (args.out / TABLE_MARKDOWN).write_text(report_header(args, dataset, settings) + table, encoding="utf-8")
    write_csv(args.out / TABLE_CSV, scores, settings.temperatures)
    render_figure(
        args.out / FIGURE_PNG, predictors, dataset, device, seed=args.seed, temperature=args.figure_temperature
    )
    written = [args.out / TABLE_MARKDOWN, args.out / TABLE_CSV, args.out / FIGURE_PNG]
    diagnostics = diagnostics_section(predictors, dataset, settings, device)
    (args.out / DIAGNOSTICS_MARKDOWN).unlink(missing_ok=True)  # none from an earlier run with other models
    if diagnostics:
        written.append(args.out / DIAGNOSTICS_MARKDOWN)
        written[-1].write_text("\n".join(diagnostics), encoding="utf-8")
    print(table, end="")
    return written


def write_region_tables(
    args: argparse.Namespace,
    networks: list[tuple[str, Any]],
    dataset: FusionDataset,
    settings: EvaluationSettings,
    device: torch.device,
) -> list[Path]:
    """regions.md and regions.csv in args.out for the networks and the region references; returns the files."""
    results = evaluate_regions(networks, dataset, settings, device)
    scope = f"{settings.item_count(dataset)} items of {dataset.name} / {args.split}, seed {settings.seed}"
    markdown = regions_markdown(results, scope, settings.region_samples, settings.region_temperature)
    (args.out / REGIONS_MARKDOWN).write_text(markdown, encoding="utf-8")
    write_regions_csv(args.out / REGIONS_CSV, results)
    return [args.out / REGIONS_MARKDOWN, args.out / REGIONS_CSV]


if __name__ == "__main__":
    sys.exit(main())
