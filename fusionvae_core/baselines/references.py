"""Non-learned references a user would try first: the pixel-wise mean, max or median of the input views, and the
best single view (an oracle that knows the target and passes the one view closest to it through). For a fixed
camera's frame windows (fusion_tabletop_arm) `view_median` of the whole window is the temporal median, the classic
background model of a static camera.

With no view (K = 0) every reference predicts an all-zero (black) image, the background of the digit data sets.
"""

from __future__ import annotations

import torch

REFERENCE_NAMES = ("mean", "max", "median", "best_view")


class ViewReference:
    """Deterministic predictor from the views [B, K, C, H, W] alone, by `method` (one of REFERENCE_NAMES)."""

    deterministic = True

    def __init__(self, method: str) -> None:
        if method not in REFERENCE_NAMES:
            raise ValueError(f"ViewReference: method must be one of {REFERENCE_NAMES}, got {method!r}")
        self.method = method

    def candidates(self, views: torch.Tensor) -> torch.Tensor:
        """Images [B, S, C, H, W] to score: the fused image (S = 1), or for best_view every view (S = K; the one
        closest to the target counts, as MSE_min takes the closest hypothesis); one black image when K = 0."""
        if self.method == "best_view" and views.shape[1] > 0:
            return views
        return self.predict(views).unsqueeze(1)

    def predict(self, views: torch.Tensor) -> torch.Tensor:
        """Fused image [B, C, H, W]; zeros when K = 0. best_view has none without the target (see `candidates`)."""
        if views.shape[1] == 0:
            return views.new_zeros(views.shape[0], *views.shape[2:])
        if self.method == "mean":
            return views.mean(dim=1)
        if self.method == "max":
            return views.amax(dim=1)
        if self.method == "median":
            return view_median(views)
        raise ValueError("ViewReference: best_view picks a view by the target; score its candidates instead")


def view_median(views: torch.Tensor) -> torch.Tensor:
    """Per-pixel median [B, C, H, W] of K >= 1 views [B, K, C, H, W]; for even K the mean of the two middle values
    (two views: their mean), unlike torch.median, which returns the lower one."""
    ordered = views.sort(dim=1).values
    count = views.shape[1]
    return (ordered[:, (count - 1) // 2] + ordered[:, count // 2]) / 2
