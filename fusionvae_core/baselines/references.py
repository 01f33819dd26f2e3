"""Non-learned references a user would try first: the pixel-wise mean or max of the input views, and for a fixed
camera's frame windows the temporal median of the whole window (`window_median`).

With no view (K = 0) the view references predict an all-zero (black) image, the background of the digit data sets.
"""

from __future__ import annotations

import torch

REFERENCE_NAMES = ("mean", "max")


class ViewReference:
    """Deterministic predictor fusing the views [B, K, C, H, W] pixel-wise by `method` ("mean" or "max")."""

    deterministic = True

    def __init__(self, method: str) -> None:
        if method not in REFERENCE_NAMES:
            raise ValueError(f"ViewReference: method must be one of {REFERENCE_NAMES}, got {method!r}")
        self.method = method

    def predict(self, views: torch.Tensor) -> torch.Tensor:
        """Fused image [B, C, H, W]; zeros when K = 0."""
        if views.shape[1] == 0:
            return views.new_zeros(views.shape[0], *views.shape[2:])
        return views.mean(dim=1) if self.method == "mean" else views.amax(dim=1)


def window_median(window: torch.Tensor) -> torch.Tensor:
    """Per-pixel temporal median of whole frame windows [B,T,C,H,W] → [B,C,H,W] (mean of the two middle values for
    an even T): the classic background model of a static camera, the fusion_tabletop_arm reference that sees every
    frame of the window, not only the model's views (one item's window: ArmDataset.window)."""
    ordered = window.sort(dim=1).values
    count = window.shape[1]
    return (ordered[:, (count - 1) // 2] + ordered[:, count // 2]) / 2
