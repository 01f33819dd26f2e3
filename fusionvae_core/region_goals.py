"""The robotics goals of the tabletop benchmark (issue 23, DESIGN.md §3), read off an evaluate.py regions.csv.

    python -m fusionvae_core.region_goals EVAL_DIR/regions.csv [--baseline CVAE+S]

For the first model in the file, from the mean image of its composited output (of the generated one, said so, when
it has no visibility head): object-pixel MSE at most half the view median's at K = 3 and at most 0.7× the best
single view's at K = 1; whole-image MSE below the view median's at every K; ahead of the baseline model (its
composited output where it has one) on object pixels at K = 2 and 3; visibility IoU >= 0.9 at K = 3 (all K shown).
Printed with the figures behind them (ship_model.py's metrics.md "Goals" section), never asserted: they are what to
train towards, not tests.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from fusionvae_core.evaluation import VIEW_COUNTS, display_name
from fusionvae_core.region_evaluation import (
    COMPOSITED,
    GENERATED,
    MSE_MEAN,
    REFERENCE,
    VISIBILITY_IOU,
    RegionResult,
)
from fusionvae_core.region_report import NO_OBJECT_MASKS, find_value, read_regions_csv, row_label

DEFAULT_BASELINE = "CVAE+S"
MEDIAN, BEST_VIEW = display_name("median"), display_name("best_view")


def goal_lines(results: Sequence[RegionResult], baseline: str = DEFAULT_BASELINE) -> list[str]:
    """Markdown bullet lines, one per goal (module docstring): the figures, the goal, and met / not met."""
    model = next((r.model for r in results if r.output == GENERATED), None)
    if model is None:
        raise ValueError("the results hold no model, only references")
    output = _served_output(results, model)
    source = row_label(model, output)
    lines = [] if output == COMPOSITED else [f"- {model} has no visibility head: its generated output stands in."]

    def mse(name: str, kind: str, region: str, k: int) -> float | None:
        return find_value(results, name, kind, MSE_MEAN, region, k)

    for k, reference, factor in ((3, MEDIAN, 0.5), (1, BEST_VIEW, 0.7)):
        ours, theirs = mse(model, output, "object", k), mse(reference, REFERENCE, "object", k)
        what = f"object pixels, K = {k}: {source} / {reference}"
        if ours is None or theirs is None:
            lines.append(f"- {what}: not measured ({NO_OBJECT_MASKS})")
        else:
            ratio = ours / theirs
            lines.append(
                f"- {what} = {ours:.2f} / {theirs:.2f} = {ratio:.2f} (goal ≤ {factor:g}): {_met(ratio <= factor)}"
            )
    whole = {k: (mse(model, output, "whole", k), mse(MEDIAN, REFERENCE, "whole", k)) for k in VIEW_COUNTS}
    lines.append(_below_line(f"whole image, {source} below {MEDIAN} at every K", whole))
    lines.append(_baseline_line(results, model, output, baseline))
    lines.append(_visibility_line(results, model))
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the goal lines of a regions.csv; exit status 2 if it cannot be read."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("regions_csv", type=Path, help="regions.csv written by training/evaluate.py")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="row name of the baseline model")
    args = parser.parse_args(argv)
    try:
        results = read_regions_csv(args.regions_csv)
        lines = goal_lines(results, args.baseline)
    except (OSError, KeyError, ValueError) as error:
        print(f"region_goals: error: {args.regions_csv}: cannot read its results ({error!r})", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def _served_output(results: Sequence[RegionResult], model: str) -> str:
    """The output of `model` the goals score: composited where it has a visibility head, else generated."""
    return COMPOSITED if any(r.model == model and r.output == COMPOSITED for r in results) else GENERATED


def _met(condition: bool) -> str:
    """The verdict of one goal."""
    return "met" if condition else "NOT met"


def _baseline_line(results: Sequence[RegionResult], model: str, output: str, baseline: str) -> str:
    """The goal line comparing `model` with the baseline on object pixels at K = 2 and 3."""
    if not any(r.model == baseline for r in results):
        return f"- object pixels, ahead of {baseline} at K = 2, 3: not measured (no {baseline} row)"
    theirs = _served_output(results, baseline)
    pairs = {
        k: (
            find_value(results, model, output, MSE_MEAN, "object", k),
            find_value(results, baseline, theirs, MSE_MEAN, "object", k),
        )
        for k in (2, 3)
    }
    return _below_line(f"object pixels, {row_label(model, output)} ahead of {row_label(baseline, theirs)}", pairs)


def _below_line(what: str, pairs: Mapping[int, tuple[float | None, float | None]]) -> str:
    """A goal line "ours below theirs at each K" for pairs {K: (ours, theirs)}; not measured when one is missing."""
    known = {k: (ours, theirs) for k, (ours, theirs) in pairs.items() if ours is not None and theirs is not None}
    if len(known) < len(pairs):
        return f"- {what}: not measured ({NO_OBJECT_MASKS})"
    figures = ", ".join(f"K={k}: {ours:.2f} vs {theirs:.2f}" for k, (ours, theirs) in known.items())
    return f"- {what}: {figures}: {_met(all(ours < theirs for ours, theirs in known.values()))}"


def _visibility_line(results: Sequence[RegionResult], model: str) -> str:
    """The goal line of the visibility head's IoU (goal at K = 3, every K printed)."""
    values = {k: find_value(results, model, COMPOSITED, VISIBILITY_IOU, "whole", k) for k in VIEW_COUNTS[1:]}
    if all(value is None for value in values.values()):
        return f"- visibility IoU ≥ 0.9 at K = 3: not measured ({model} has no visibility head)"
    figures = ", ".join(f"K={k}: {'–' if v is None else f'{v:.3f}'}" for k, v in values.items())
    final = values[3]
    return f"- visibility IoU, {figures} (goal ≥ 0.9 at K = 3): {_met(final is not None and final >= 0.9)}"


if __name__ == "__main__":
    sys.exit(main())
