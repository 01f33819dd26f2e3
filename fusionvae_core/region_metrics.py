"""Metrics that look where a robot looks: error per image region, uncertainty quality and visibility agreement.

Regions, bool [B, H, W] per item (`region_masks`):
- "whole": every pixel;
- "object": the target-object pixels (the renderer's segmentation; only data with object masks has this region);
- "hidden": pixels that no GIVEN view shows (visibility label < 0.5 in each of the K views; every pixel at K = 0).

Region MSE of an image: its squared error to the target summed over the region's pixels and all channels, divided by
(pixels in the region × channels), in [0, 1] pixel units. An item whose region is empty has no region MSE (NaN
here): it is left out of that region's mean, and every mean comes with the number of items it scored
(`scored_mean`). Per item and region, over hypotheses [B, S, C, H, W]: the mean-image MSE (region MSE of the
hypotheses' pixel-wise mean) and MSE_min (the lowest region MSE among the hypotheses, the paper's MSE_min restricted
to the region). A deterministic predictor has one hypothesis (both agree).

Uncertainty, per item over its pixels (needs >= 2 hypotheses): the spread σ = sqrt(channel-mean variance over the
hypotheses) and the error e = channel-mean squared error of the mean image (`spread_and_error`).
- Spearman: the Pearson correlation of the ranks of σ and of e (ties get their average rank); undefined (NaN) where
  σ or e is constant. +1: the larger the spread, the larger the error.
- AUSE, the area under the sparsification error curve (Ilg et al., ECCV 2018): S_σ(f) is the mean e of the pixels
  left after removing the fraction f with the largest σ, S_e(f) the same removing the largest e first (the oracle).
  Both are divided by the mean e over all pixels (curves start at 1) and sampled at f = 0, 1/20, ..., 19/20:
  AUSE = (1/20) Σ_f (S_σ(f) − S_e(f)), in [0, 1): 0 where σ orders the pixels as their errors do. NaN where e = 0.
Visibility IoU per item: |P ∩ L| / |P ∪ L| of the predicted (p >= 0.5) and label (>= 0.5) visible pixels of all K
views; NaN where the union is empty.
"""

from __future__ import annotations

import torch

from fusionvae_core.data.visibility import hidden_pixels

VISIBLE = 0.5  # visibility at or above which a view counts as showing the scene at a pixel
AUSE_STEPS = 20  # fractions of pixels removed: 0, 1/20, ..., 19/20


def region_masks(visibility: torch.Tensor, object_mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """bool [B, H, W] per region ("whole", "object" only with object masks, "hidden") of the given views'
    visibility labels [B, K, H, W]."""
    batch, _, height, width = visibility.shape
    masks = {"whole": torch.ones(batch, height, width, dtype=torch.bool)}
    if object_mask is not None:
        masks["object"] = object_mask.cpu().bool()
    masks["hidden"] = torch.from_numpy(hidden_pixels(visibility.cpu().numpy(), VISIBLE))
    return masks


def region_mse(images: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, S]: region MSE of every image [B, S, C, H, W] against target [B, C, H, W] over mask [B, H, W]; NaN where
    the item's region is empty."""
    squared = (images - target.unsqueeze(1)).square().mean(dim=2)
    weights = mask.unsqueeze(1).to(squared.dtype)
    return (squared * weights).flatten(2).sum(dim=2) / weights.flatten(2).sum(dim=2)


def mean_and_min_mse(images: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """([B], [B]): region MSE of the hypotheses' [B, S, C, H, W] mean image, and the lowest over the hypotheses."""
    mean_image = region_mse(images.mean(dim=1, keepdim=True), target, mask)[:, 0]
    return mean_image, region_mse(images, target, mask).amin(dim=1)


def oracle_pick(candidates: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W]: per item the candidate [B, S, C, H, W] with the lowest whole-image MSE to the target."""
    errors = (candidates - target.unsqueeze(1)).square().flatten(2).mean(dim=2)
    return candidates[torch.arange(candidates.shape[0], device=candidates.device), errors.argmin(dim=1)]


def spread_and_error(images: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """([B, P], [B, P]) per pixel of hypotheses [B, S, C, H, W]: spread σ and error e of the mean (module doc)."""
    spread = images.var(dim=1, correction=0).mean(dim=1).sqrt().flatten(1)
    error = (images.mean(dim=1) - target).square().mean(dim=1).flatten(1)
    return spread, error


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """float64 [B, P]: the rank (0-based) of each value within its row [B, P], tied values sharing their mean rank."""
    ranks = torch.empty(values.shape, dtype=torch.float64)
    for row, row_values in enumerate(values.cpu()):
        _, inverse, counts = torch.unique(row_values, return_inverse=True, return_counts=True)
        ends = counts.cumsum(dim=0).double()
        ranks[row] = (ends - (counts.double() + 1) / 2)[inverse]
    return ranks


def spearman(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """[B]: Spearman rank correlation of two [B, P] rows (ties averaged); NaN where a row is constant."""
    a, b = (ranks - ranks.mean(dim=1, keepdim=True) for ranks in (average_ranks(first), average_ranks(second)))
    return (a * b).sum(dim=1) / ((a.square().sum(dim=1) * b.square().sum(dim=1)).sqrt())


def sparsification_curve(error: torch.Tensor, order_by: torch.Tensor, steps: int = AUSE_STEPS) -> torch.Tensor:
    """[B, steps]: mean error [B, P] of the pixels left after removing the fraction i/steps (i = 0..steps-1) with the
    largest `order_by` [B, P] (ties removed in pixel order)."""
    pixels = error.shape[1]
    ordered = error.gather(1, order_by.argsort(dim=1, descending=True, stable=True)).double()
    remaining = ordered.flip(1).cumsum(dim=1).flip(1)  # [:, n]: summed error of all but the first n removed
    removed = torch.tensor([round(i * pixels / steps) for i in range(steps)])
    return remaining[:, removed] / (pixels - removed).double()


def ause(spread: torch.Tensor, error: torch.Tensor, steps: int = AUSE_STEPS) -> torch.Tensor:
    """[B]: area between the normalised sparsification curves of `spread` and of the oracle (module docstring)."""
    gap = sparsification_curve(error, spread, steps) - sparsification_curve(error, error, steps)
    return gap.mean(dim=1) / error.double().mean(dim=1)


def visibility_iou(predicted: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """[B]: IoU of the visible pixels of predicted probabilities and labels [B, K, H, W]; NaN where both show none."""
    shown, truth = (predicted >= VISIBLE).flatten(1), (label >= VISIBLE).flatten(1)
    return (shown & truth).sum(dim=1).double() / (shown | truth).sum(dim=1).double()


def scored_mean(values: torch.Tensor) -> tuple[float | None, int]:
    """The mean of the defined (not NaN) per-item values [N] and their number (None when there is none)."""
    defined = values[~values.isnan()]
    return (float(defined.double().mean()) if defined.numel() else None), int(defined.numel())
