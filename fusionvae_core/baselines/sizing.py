"""Width auto-sizing: give each baseline about as many trainable parameters as FusionVAE (paper sec. 5.3)."""

from __future__ import annotations

import math
from functools import cache

from fusionvae_core.baselines.config import BaselineConfig
from fusionvae_core.config import ModelConfig

PARAMETER_TOLERANCE = 0.15
PROBE_WIDTH = 8


@cache
def baseline_parameters(config: BaselineConfig) -> int:
    """Trainable parameters of the baseline described by `config` (cached: sizing asks for the same few)."""
    from fusionvae_core.baselines.factory import build_baseline

    return build_baseline(config).num_parameters()


@cache
def fusionvae_parameters(model: ModelConfig) -> int:
    """Trainable parameters of FusionVAE for `model`."""
    from fusionvae_core.model import FusionVAE

    return FusionVAE(model).num_parameters()


def auto_width(kind: str, model: ModelConfig, target: int | None = None) -> int:
    """Width whose parameter count is closest to `target` (default: FusionVAE's for `model`).

    Parameters grow about quadratically and monotonically with the width: a probe gives the first guess
    (probe · sqrt(target / count(probe))), unit steps then find the first width at or above the target, and it or
    its predecessor is the closest. Raises ValueError if that still misses the target by more than 15 %.
    """
    goal = fusionvae_parameters(model) if target is None else target

    def count(width: int) -> int:
        return baseline_parameters(BaselineConfig(kind, model, width))

    width = max(1, round(PROBE_WIDTH * math.sqrt(goal / count(PROBE_WIDTH))))
    while count(width) < goal:
        width += 1
    while width > 1 and count(width - 1) >= goal:
        width -= 1
    if width > 1 and abs(count(width - 1) - goal) < abs(count(width) - goal):
        width -= 1
    if abs(count(width) - goal) > PARAMETER_TOLERANCE * goal:
        raise ValueError(
            f"auto_width: no width gives {kind} within ±{PARAMETER_TOLERANCE:.0%} of {goal} parameters "
            f"(closest: width {width} with {count(width)})"
        )
    return width
