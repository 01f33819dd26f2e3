"""The region metrics (region_metrics.py) of models and view references on the evaluation items, per K.

Every model and reference sees the items of the paper's evaluation (`evaluation_batches`). Per model up to three
outputs, each scored the same way:
- "generated": its hypotheses (`region_samples` prior samples at `region_temperature` of EvaluationSettings, the
  noise seeded as MSE_min's), or the one prediction of a deterministic model;
- "composited": every hypothesis composited with the model's own predicted visibility (fusionvae_core.compositing;
  only models with a visibility head: `has_visibility_head`, `predict_visibility(views) -> [B, K, H, W]`), with
  the visibility IoU against the labels;
- "oracle composite": composited with the label visibility: the headroom a perfect visibility head would give.
The composite is affine in the hypothesis, so the composited mean image is the composite of the mean image.
References ("reference"): view mean, view median and best single view (REGION_REFERENCES); for a fixed camera's
frame windows (datasets with `window(index)`, fusion_tabletop_arm) also the newest frame (view 0) and the temporal
median of the whole window, the classic background model of a static camera (TEMPORAL_REFERENCES; the view median
is then the temporal median of the frames the model gets). A reference predicts one image per item and region (best
single view: the view an oracle picks per region), so its mean-image MSE and MSE_min agree. Results come in table
units: MSE in 1e-2; Spearman, AUSE and IoU as they are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from fusionvae_core.baselines import ViewReference
from fusionvae_core.baselines.references import view_median
from fusionvae_core.compositing import blend_views, composite
from fusionvae_core.data import FusionBatch, FusionDataset
from fusionvae_core.evaluation import (
    TABLE_SCALE,
    VIEW_COUNTS,
    EvaluationSettings,
    candidate_images,
    display_name,
    evaluation_batches,
    is_deterministic,
)
from fusionvae_core.metrics import evaluating, sampled_images
from fusionvae_core.model import FusionVAE
from fusionvae_core.region_metrics import (
    ause,
    mean_and_min_mse,
    region_masks,
    scored_mean,
    spearman,
    spread_and_error,
    visibility_iou,
)

MSE_MEAN, MSE_MIN = "MSE mean image [1e-2]", "MSE_min [1e-2]"
SPEARMAN, AUSE, VISIBILITY_IOU = "Spearman", "AUSE", "visibility IoU"
GENERATED, COMPOSITED, ORACLE_COMPOSITE, REFERENCE = "generated", "composited", "oracle composite", "reference"
REGION_REFERENCES = ("mean", "median", "best_view")
NEWEST_FRAME, WINDOW_MEDIAN = "newest frame", "window median"
TEMPORAL_REFERENCES = (NEWEST_FRAME, WINDOW_MEDIAN)

_Key = tuple[str, str, str, str]  # model, output, metric, region


@dataclass(frozen=True)
class RegionResult:
    """One figure: the mean of `metric` for `model`'s `output` in `region` with K = `k` views over the `items`
    scored (items whose region or statistic is undefined are left out; `value` None when none is left)."""

    model: str
    output: str
    metric: str
    region: str
    k: int
    items: int
    value: float | None


def has_visibility_head(model: Any) -> bool:
    """Whether `model` predicts per view and pixel whether the view shows the scene (then it can composite)."""
    return bool(getattr(model, "has_visibility_head", False))


def evaluate_regions(
    models: Sequence[tuple[str, Any]], dataset: FusionDataset, settings: EvaluationSettings, device: torch.device
) -> list[RegionResult]:
    """Region results of every (label, network) in `models` and of REGION_REFERENCES on `dataset` (module doc)."""
    results = []
    for k in VIEW_COUNTS:  # each K's items are loaded once and serve every model
        per_item: defaultdict[_Key, list[torch.Tensor]] = defaultdict(list)
        first = 0  # dataset index of the batch's first item (evaluation batches run in dataset order)
        for batch in evaluation_batches(dataset, settings, k):
            masks = region_masks(batch.visibility, batch.object_mask)
            for label, model in models:
                _score_model(per_item, label, model, batch, masks, settings, device)
            references = {
                display_name(method): ViewReference(method).candidates(batch.views) for method in REGION_REFERENCES
            }
            references |= temporal_references(dataset, batch, range(first, first + batch.target.shape[0]))
            for name, candidates in references.items():
                _score_images(per_item, (name, REFERENCE), candidates, batch.target, masks)
            first += batch.target.shape[0]
        for (model, output, metric, region), values in per_item.items():
            value, items = scored_mean(torch.cat(values))
            if value is not None and metric in (MSE_MEAN, MSE_MIN):
                value *= TABLE_SCALE
            results.append(RegionResult(model, output, metric, region, k, items, value))
    return results


def temporal_references(dataset: Any, batch: FusionBatch, indices: range) -> dict[str, torch.Tensor]:
    """TEMPORAL_REFERENCES as candidates [B, 1, C, H, W] for a dataset of frame windows (none for other data): the
    newest frame (view 0; black without views) and the per-pixel median of each item's whole window."""
    if not hasattr(dataset, "window"):
        return {}
    windows = torch.stack([dataset.window(index) for index in indices])
    newest = batch.views[:, :1] if batch.views.shape[1] else torch.zeros_like(batch.target).unsqueeze(1)
    return {NEWEST_FRAME: newest, WINDOW_MEDIAN: view_median(windows).unsqueeze(1)}


def composite_images(images: torch.Tensor, views: torch.Tensor, visibility: torch.Tensor) -> torch.Tensor:
    """Images [B, S, C, H, W] composited with the K views [B, K, C, H, W] by visibility [B, K, H, W] (CPU tensors),
    through fusionvae_core.compositing, the node's own compositing."""

    def channel_last(tensor: torch.Tensor) -> np.ndarray:
        return tensor.movedim(-3, -1).numpy()

    composited = [
        composite(channel_last(images[b]), blend_views(channel_last(views[b]), visibility[b].numpy()))
        for b in range(images.shape[0])
    ]
    return torch.from_numpy(np.stack(composited)).movedim(-1, -3)


def _score_model(
    per_item: defaultdict[_Key, list[torch.Tensor]],
    label: str,
    model: Any,
    batch: FusionBatch,
    masks: dict[str, torch.Tensor],
    settings: EvaluationSettings,
    device: torch.device,
) -> None:
    """Add the per-item values of one model's outputs on one batch (module docstring)."""
    views = batch.views.to(device)
    if is_deterministic(model):
        images = candidate_images(model, views).cpu()
    else:
        samples = sampled_images(
            cast(FusionVAE, model),  # the CVAE baselines provide the same sampling interface
            views,
            settings.region_samples,
            seed=settings.seed,
            temperature=settings.region_temperature,
            chunk_size=settings.chunk_size,
        )
        images = torch.cat([chunk.cpu() for chunk in samples], dim=1)
    _score_images(per_item, (label, GENERATED), images, batch.target, masks)
    if has_visibility_head(model):
        predicted = _predicted_visibility(model, views)
        composited = composite_images(images, batch.views, predicted)
        _score_images(per_item, (label, COMPOSITED), composited, batch.target, masks)
        per_item[(label, COMPOSITED, VISIBILITY_IOU, "whole")].append(visibility_iou(predicted, batch.visibility))
    oracle = composite_images(images, batch.views, batch.visibility)
    _score_images(per_item, (label, ORACLE_COMPOSITE), oracle, batch.target, masks)


def _predicted_visibility(model: Any, views: torch.Tensor) -> torch.Tensor:
    """The model's visibility probabilities [B, K, H, W] on the CPU (an empty tensor without views)."""
    if views.shape[1] == 0:
        return torch.zeros(views.shape[0], 0, *views.shape[-2:])
    with evaluating(model):
        return cast(torch.Tensor, model.predict_visibility(views)).float().cpu()


def _score_images(
    per_item: defaultdict[_Key, list[torch.Tensor]],
    source: tuple[str, str],
    images: torch.Tensor,
    target: torch.Tensor,
    masks: dict[str, torch.Tensor],
) -> None:
    """Add the per-item region MSEs of images [B, S, C, H, W] of `source` (model, output) and, for >= 2
    hypotheses of a model, their uncertainty quality; a reference is scored by its best candidate alone."""
    model, output = source
    for region, mask in masks.items():
        mean_image, lowest = mean_and_min_mse(images, target, mask)
        per_item[(model, output, MSE_MEAN, region)].append(lowest if output == REFERENCE else mean_image)
        per_item[(model, output, MSE_MIN, region)].append(lowest)
    if images.shape[1] > 1 and output != REFERENCE:
        spread, error = spread_and_error(images, target)
        per_item[(model, output, SPEARMAN, "whole")].append(spearman(spread, error))
        per_item[(model, output, AUSE, "whole")].append(ause(spread, error))
