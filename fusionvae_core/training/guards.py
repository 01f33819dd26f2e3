"""Update guards: skip steps whose loss is NaN/Inf or whose gradient norm exceeds a threshold (VDVAE-style).

A skipped step applies no optimizer update; BatchNorm statistics and spectral-norm vectors that its forward pass
made non-finite are restored from a snapshot taken before the step. A run whose updates are all skipped would spin
without learning (a threshold below the model's normal gradient norm, a learning rate that blows up every step), so
the guard reports it as stalled after a number of consecutive skips and the loop stops with an explanation.
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
    max_consecutive: int = 100
    skipped: int = 0
    consecutive: int = 0
    last_reason: str | None = None

    @property
    def stalled(self) -> bool:
        """Whether the last `max_consecutive` updates were all skipped."""
        return self.consecutive >= self.max_consecutive

    def stall_message(self) -> str:
        """What went wrong and what to change, for a stalled run."""
        if self.last_reason is not None and self.last_reason.startswith("gradient norm"):
            advice = (
                "optim.skip_threshold is below this model's normal gradient norm (it grows with image size and "
                "channels): start a new run with a higher --set optim.skip_threshold=..."
            )
        else:
            advice = "the model diverges: start a new run with a lower --set optim.lr=... or longer optim.warmup_steps"
        return f"the last {self.consecutive} updates were all skipped (last: {self.last_reason}): {advice}"

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
        self.consecutive = self.consecutive + 1 if reason is not None else 0
        self.last_reason = reason
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
