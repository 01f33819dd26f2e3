"""Learning-rate schedule (linear warm-up, then cosine annealing lr -> lr_min) and training progress."""

from __future__ import annotations

import math


def learning_rate(step: int, total_steps: int, lr: float, lr_min: float, warmup_steps: int) -> float:
    """LR of 0-based `step`: rises linearly to `lr` over `warmup_steps`, then follows a cosine down to `lr_min`.

    A pure function of the step, so a resumed run needs no scheduler state.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    fraction = min(1.0, (step - warmup_steps) / decay_steps)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * fraction))


def training_progress(step: int, total_steps: int) -> float:
    """Fraction of training done before 0-based `step`, in [0, 1] (drives β warm-up and KL balancing)."""
    return min(1.0, step / max(1, total_steps))
