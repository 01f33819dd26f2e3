"""The visibility head: per view and pixel, p(the view shows the scene here) — not an occluder, not a black window.

It sits on the shared encoder: each view's features (upsampled from the encoder's finest map) meet the view's own
pixels at full resolution, then every view is compared with the aggregate of all views (per-pixel max and mean of
their features): an occluder is what one view shows and the others do not. Pixel-level inputs are the view, its
difference from the views' mean colour and the views' per-pixel colour range, so a single frame's own detail
decides the label's edges. Trained with binary cross-entropy against the data's labels (data/visibility.py), next to
the ELBO; its output drives compositing (fusionvae_core/compositing.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusionvae_core.config import ModelConfig


class VisibilityHead(nn.Module):
    """Logits [B, K, H, W] from views [B, K, C, H, W] and their encoder features [B·K, c, h, w] (h divides H)."""

    def __init__(self, image_channels: int, feature_channels: int, hidden: int) -> None:
        super().__init__()
        self.pixels = nn.Conv2d(3 * image_channels, hidden, 3, padding=1, bias=False)  # BN follows
        self.features = nn.Conv2d(feature_channels, hidden, 1, bias=False)
        self.per_view = nn.Sequential(nn.BatchNorm2d(hidden), nn.SiLU(), nn.Conv2d(hidden, hidden, 3, padding=1))
        self.compare = nn.Sequential(
            nn.SiLU(),
            nn.Conv2d(3 * hidden, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.SiLU(),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, views: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Visibility logits of every view (no control flow on values: exports with dynamic B and K)."""
        batch, count = views.shape[:2]
        mean_colour = views.mean(dim=1, keepdim=True)
        colour_range = views.amax(dim=1, keepdim=True) - views.amin(dim=1, keepdim=True)
        pixel_input = torch.cat([2.0 * views - 1.0, views - mean_colour, colour_range.expand_as(views)], dim=2)
        size = views.shape[-2:]
        context = F.interpolate(self.features(features), size=size, mode="bilinear", align_corners=False)
        per_view = self.per_view(self.pixels(pixel_input.flatten(0, 1)) + context).unflatten(0, (batch, count))
        aggregate = [per_view.amax(dim=1, keepdim=True), per_view.mean(dim=1, keepdim=True)]
        compared = torch.cat([per_view, *(a.expand_as(per_view) for a in aggregate)], dim=2)
        return self.compare(compared.flatten(0, 1)).reshape(batch, count, *size)


def make_visibility_head(cfg: ModelConfig, feature_channels: int) -> VisibilityHead | None:
    """The head a model config asks for (None when `visibility_head` is off)."""
    return VisibilityHead(cfg.channels, feature_channels, cfg.visibility_channels) if cfg.visibility_head else None


def visibility_loss(
    head: VisibilityHead | None, views: torch.Tensor, view_features: torch.Tensor | None, labels: torch.Tensor | None
) -> torch.Tensor | None:
    """Per-example BCE [B] of the head against labels [B, K, H, W] in [0, 1]: summed over pixels (nats, like the
    NLL), averaged over the views; 0 for K = 0 (`view_features` None); None without a head or labels."""
    if head is None or labels is None:
        return None
    if view_features is None:
        return views.new_zeros(views.shape[0])
    logits = head(views, view_features)
    bce = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")
    return bce.flatten(2).sum(dim=2).mean(dim=1)
