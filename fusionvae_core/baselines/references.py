"""Non-learned references a user would try first: the pixel-wise mean or max of the input views.

With no view (K = 0) both predict an all-zero (black) image, the background of the digit data sets.
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
