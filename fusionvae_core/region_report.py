"""regions.md and regions.csv: the region results (region_evaluation.py) as tables, and read back from the CSV."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from fusionvae_core.evaluation import VIEW_COUNTS, markdown_table
from fusionvae_core.region_evaluation import (
    AUSE,
    COMPOSITED,
    GENERATED,
    MSE_MEAN,
    MSE_MIN,
    REFERENCE,
    SPEARMAN,
    VISIBILITY_IOU,
    RegionResult,
)

REGIONS_MARKDOWN, REGIONS_CSV = "regions.md", "regions.csv"
SECTION_TITLE = "## Where a robot looks: target objects, hidden pixels, whole image"
REGION_TITLES = {
    "whole": "Whole image",
    "object": "Target-object pixels",
    "hidden": "Hidden pixels (no given view shows them; every pixel at K = 0)",
}
NO_OBJECT_MASKS = "no object masks for this data"
CSV_FIELDS = ["model", "output", "metric", "region", "K", "items", "value"]


def row_label(model: str, output: str) -> str:
    """A table row's name: "FusionVAE composited", or a reference's own name."""
    return model if output == REFERENCE else f"{model} {output}"


def regions_markdown(results: Sequence[RegionResult], scope: str, samples: int, temperature: float) -> str:
    """regions.md: one MSE table per region, then uncertainty quality and visibility IoU. `scope` names the items
    ("24 items of fusion_tabletop / test, seed 0"), `samples` and `temperature` the models' hypotheses."""
    lines = [
        SECTION_TITLE,
        "",
        f"{scope}; {samples} hypotheses per item at temperature {temperature:g} (a deterministic model: its one "
        "prediction). MSE in 10⁻² over the region's pixels and channels of each item, averaged over the items whose "
        'region is not empty; "mean image": the MSE of the hypotheses\' pixel-wise mean, "min": the lowest MSE '
        "among the hypotheses (the paper's MSE_min within the region). Rows per model: generated (its own output), "
        "composited (every hypothesis composited with the model's predicted visibility: the views' pixels where a "
        "view shows the scene, the hypothesis elsewhere; models with a visibility head only), oracle composite "
        "(composited with the label visibility: what a perfect visibility head would give). References (no model): "
        "view mean, view median (per-pixel median of the K views; of two views their mean), best single view (an "
        "oracle: per item and region the view with the lowest error); each is one image per item, so both columns "
        "agree, and black without views (K = 0).",
        "",
    ]
    columns = [f"{name} K={k}" for name in ("mean image", "min") for k in VIEW_COUNTS]
    for region, title in REGION_TITLES.items():
        lines += [f"### {title}", ""]
        scored = [result for result in results if result.region == region and result.metric in (MSE_MEAN, MSE_MIN)]
        if not scored:
            lines += [f"Not reported: {NO_OBJECT_MASKS} (object masks come with fusion_tabletop's renders).", ""]
            continue
        lines += [markdown_table(_rows(scored, (MSE_MEAN, MSE_MIN), region), columns), _items_line(results, region), ""]
    return "\n".join([*lines, *_uncertainty_lines(results), *_visibility_lines(results)])


def write_regions_csv(path: Path, results: Sequence[RegionResult]) -> None:
    """CSV with one row per result (CSV_FIELDS; MSE in 1e-2 as the metric names say; value empty when undefined)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for r in results:
            value = "" if r.value is None else f"{r.value:.6f}"
            writer.writerow([r.model, r.output, r.metric, r.region, r.k, r.items, value])


def read_regions_csv(path: Path) -> list[RegionResult]:
    """The results `write_regions_csv` wrote."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [
        RegionResult(
            row["model"],
            row["output"],
            row["metric"],
            row["region"],
            int(row["K"]),
            int(row["items"]),
            float(row["value"]) if row["value"] else None,
        )
        for row in rows
    ]


def find_value(
    results: Sequence[RegionResult], model: str, output: str, metric: str, region: str, k: int
) -> float | None:
    """The value of one result, None if it is undefined or absent."""
    for r in results:
        if (r.model, r.output, r.metric, r.region, r.k) == (model, output, metric, region, k):
            return r.value
    return None


def _rows(
    results: Sequence[RegionResult], metrics: Sequence[str], region: str = "whole"
) -> list[tuple[str, list[float | None]]]:
    """Table rows (one per model output, in result order) with one value of `region` per metric and K."""
    sources = list(dict.fromkeys((r.model, r.output) for r in results))
    return [
        (
            row_label(*source),
            [find_value(results, *source, metric, region, k) for metric in metrics for k in VIEW_COUNTS],
        )
        for source in sources
    ]


def _items_line(results: Sequence[RegionResult], region: str) -> str:
    """How many items each K's mean of `region` scored, of all the items."""
    counts = []
    for k in VIEW_COUNTS:
        of_k = [r for r in results if r.k == k and r.metric == MSE_MEAN]
        scored = next(r.items for r in of_k if r.region == region)
        everything = next(r.items for r in of_k if r.region == "whole")
        counts.append(f"K={k}: {scored} of {everything}")
    return f"Items scored (region not empty): {', '.join(counts)}."


def _uncertainty_lines(results: Sequence[RegionResult]) -> list[str]:
    """The uncertainty-quality section (models with several hypotheses), [] when there is none."""
    scored = [r for r in results if r.metric in (SPEARMAN, AUSE)]
    if not scored:
        return []
    columns = [f"{name} K={k}" for name in ("Spearman", "AUSE") for k in VIEW_COUNTS]
    return [
        "### Does the uncertainty mean something? (whole image)",
        "",
        "Per item over its pixels: Spearman rank correlation between the hypotheses' per-pixel spread (standard "
        "deviation) and the per-pixel squared error of their mean image (1: the spread orders the errors perfectly), "
        "and AUSE, the area between the sparsification curves by spread and by true error (remaining mean error "
        "after removing 0, 5, ..., 95 % of the pixels, divided by the mean error of all pixels: 0 is perfect). Items "
        "where either is undefined (a constant spread or error) are left out; regions.csv has the counts.",
        "",
        markdown_table(_rows(scored, (SPEARMAN, AUSE)), columns, decimals=3, bold_lowest=False),
    ]


def _visibility_lines(results: Sequence[RegionResult]) -> list[str]:
    """The visibility-head section: IoU per K of the models with a head, and which models have none."""
    models = list(dict.fromkeys(r.model for r in results if r.output == GENERATED))
    with_head = list(dict.fromkeys(r.model for r in results if r.output == COMPOSITED))
    lines = ["### Visibility head", ""]
    iou = [r for r in results if r.metric == VISIBILITY_IOU]
    if iou:
        lines += [
            "IoU of the views' predicted (p >= 0.5) and labelled visible pixels per item, averaged over the items "
            "(K = 0: no view).",
            "",
            markdown_table(_rows(iou, (VISIBILITY_IOU,)), [f"IoU K={k}" for k in VIEW_COUNTS], bold_lowest=False),
        ]
    without = [model for model in models if model not in with_head]
    if without:
        lines += [f"No visibility head (so no composited row): {', '.join(without)}.", ""]
    return lines
