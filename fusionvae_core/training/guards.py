"""Update guards: skip steps whose loss is NaN/Inf or whose gradient norm exceeds a threshold (VDVAE-style).

A skipped step applies no optimizer update; BatchNorm statistics and spectral-norm vectors that its forward pass
made non-finite are restored from a snapshot taken before the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class SkipGuard:
    """Decides whether a step is skipped and counts the skipped steps (`skipped`, saved with the train state)."""

    skip_threshold: float | None
    skipped: int = 0

    def check(self, loss_finite: bool, grad_norm: float) -> str | None:
        """Reason to skip ("non-finite loss", "non-finite gradient", "gradient norm N > T") or None; counts skips."""
        reason = None
        if not loss_finite:
            reason = "non-finite loss"
        elif not math.isfinite(grad_norm):
            reason = "non-finite gradient"
        elif self.skip_threshold is not None and grad_norm > self.skip_threshold:
            reason = f"gradient norm {grad_norm:.4g} > {self.skip_threshold:.4g}"
        if reason is not None:
            self.skipped += 1
        return reason


class BufferSnapshot:
    """Copies of a module's floating-point buffers, restored only where they became non-finite."""

    def __init__(self, module: nn.Module) -> None:
        self.pairs = [(b, b.detach().clone()) for b in module.buffers() if b.is_floating_point()]

    @torch.no_grad()
    def restore_non_finite(self) -> bool:
        """Restore every buffer that holds a NaN/Inf; return whether any was restored."""
        restored = False
        for live, saved in self.pairs:
            if not torch.isfinite(live).all():
                live.copy_(saved)
                restored = True
        return restored
