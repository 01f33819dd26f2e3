"""FusionVAE model configuration: one frozen dataclass, validated on creation, with the paper's presets.

The config is the single source of truth for the architecture; it round-trips through plain JSON/YAML types
(`to_dict` / `from_dict`) so checkpoints and training YAML files can carry it.

Presets: "fusion_mnist" (32² grey, Bernoulli on grey levels), "fusion_celeba" (64² RGB, 10-component discretized
logistic mixture), "fusion_tless" (the CelebA network on 64² RGB with a per-channel Bernoulli, as the paper states
for T-LESS) and "tiny" (16² grey, for tests).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

LIKELIHOODS = ("bernoulli", "logistic_mixture")
AGGREGATIONS = ("max", "mean", "bayes")
AGGREGATION_MODES = ("add", "all")
POSTERIORS = ("y", "xy")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and objective settings of a FusionVAE (immutable; use `dataclasses.replace` to derive one).

    Resolution bookkeeping: the stem keeps `image_size`; each of the `num_preprocess_blocks` halves the resolution
    and doubles the channels, giving the finest latent scale; every coarser latent scale halves the resolution
    again and doubles the channels (NVAE's channel multiplier 2). `groups_per_scale` lists the number of latent
    groups per scale FINEST FIRST, as NVAE's `groups_per_scale` (its `--ada_groups` halves the count per coarser
    scale, see `ada_groups`): fusion_mnist's (5, 2) is 5 groups at 8² and 2 at 4². Scale indices used by the
    methods below count the other way, 0 = coarsest, because the generator runs coarse -> fine.
    `num_postprocess_blocks` must equal `num_preprocess_blocks` so the generator returns to full resolution.
    """

    name: str = "custom"
    image_size: int = 16
    channels: int = 1
    likelihood: str = "bernoulli"
    num_mixtures: int = 10
    base_channels: int = 8
    num_preprocess_blocks: int = 1
    num_preprocess_cells: int = 1
    num_postprocess_blocks: int = 1
    num_postprocess_cells: int = 1
    groups_per_scale: tuple[int, ...] = (2, 1)
    latent_channels: int = 4
    cells_per_group: int = 1
    decoder_expansion: int = 6
    residual_scale: float = 0.1
    aggregation: str = "max"
    aggregation_mode: str = "add"
    posterior: str = "y"
    max_views: int = 3
    use_se: bool = True
    kl_warmup_fraction: float = 0.3
    kl_balance: bool = True
    regularization_weight: float = 1e-2
    visibility_head: bool = False  # predict per-view visibility (model/visibility.py), trained with BCE
    visibility_channels: int = 16  # hidden channels of that head (at full resolution)
    visibility_weight: float = 1.0  # weight of its BCE (nats summed over pixels) next to the ELBO

    def __post_init__(self) -> None:
        """Normalise list-valued fields to tuples and validate every value with a message naming the field."""
        if isinstance(self.groups_per_scale, list):
            object.__setattr__(self, "groups_per_scale", tuple(self.groups_per_scale))
        _check_types(self)
        _check_values(self)

    # ----------------------------------------------------------------------------------------- derived sizes
    @property
    def num_scales(self) -> int:
        """Number of latent scales (resolutions) in the hierarchy."""
        return len(self.groups_per_scale)

    @property
    def num_latent_groups(self) -> int:
        """Total number of latent groups L."""
        return sum(self.groups_per_scale)

    def groups_at_scale(self, scale: int) -> int:
        """Number of latent groups at latent scale `scale` (0 = coarsest)."""
        return self.groups_per_scale[self.num_scales - 1 - scale]

    def scale_resolution(self, scale: int) -> int:
        """Spatial size of latent scale `scale` (0 = coarsest)."""
        finest = self.image_size >> self.num_preprocess_blocks
        return finest >> (self.num_scales - 1 - scale)

    def scale_channels(self, scale: int) -> int:
        """Feature channels of encoder and generator at latent scale `scale` (0 = coarsest)."""
        finest = self.base_channels << self.num_preprocess_blocks
        return finest << (self.num_scales - 1 - scale)

    def group_scales(self) -> list[int]:
        """Scale index of every latent group, ordered coarse -> fine (the top-down order)."""
        return [scale for scale in range(self.num_scales) for _ in range(self.groups_at_scale(scale))]

    # ------------------------------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of JSON/YAML-able values (tuples become lists)."""
        return {
            f.name: list(value) if isinstance(value := getattr(self, f.name), tuple) else value
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Build a config from `to_dict` output (or a YAML mapping); unknown keys raise ValueError naming them."""
        if not isinstance(values, dict):
            raise ValueError(f"ModelConfig.from_dict expects a mapping, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"ModelConfig: unknown key(s) {unknown}; valid keys are {sorted(known)}")
        return cls(**values)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """One of the named presets ("fusion_mnist", "fusion_celeba", "fusion_tless", "tiny") with overrides."""
        if name not in PRESETS:
            raise ValueError(f"ModelConfig: unknown preset {name!r}; available: {sorted(PRESETS)}")
        return cls.from_dict({**PRESETS[name], **overrides})


def _check_types(cfg: ModelConfig) -> None:
    """Raise ValueError if a field has the wrong type (bool is not accepted as a number, int is a valid float)."""
    hints = typing.get_type_hints(ModelConfig)
    for f in dataclasses.fields(cfg):
        value, expected = getattr(cfg, f.name), hints[f.name]
        if expected == tuple[int, ...]:
            ok = isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        elif expected is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, expected)
        if not ok:
            raise ValueError(f"ModelConfig.{f.name}: expected {expected}, got {value!r} ({type(value).__name__})")


def _check_values(cfg: ModelConfig) -> None:
    """Raise ValueError if a value is out of range or the sizes do not fit together."""
    choices = {
        "likelihood": LIKELIHOODS,
        "aggregation": AGGREGATIONS,
        "aggregation_mode": AGGREGATION_MODES,
        "posterior": POSTERIORS,
    }
    for key, allowed in choices.items():
        if getattr(cfg, key) not in allowed:
            raise ValueError(f"ModelConfig.{key}: expected one of {allowed}, got {getattr(cfg, key)!r}")
    positive = (
        "image_size",
        "channels",
        "num_mixtures",
        "base_channels",
        "num_preprocess_cells",
        "num_postprocess_cells",
        "latent_channels",
        "cells_per_group",
        "decoder_expansion",
        "max_views",
        "visibility_channels",
    )
    for key in positive:
        if getattr(cfg, key) < 1:
            raise ValueError(f"ModelConfig.{key}: must be >= 1, got {getattr(cfg, key)}")
    for key in ("num_preprocess_blocks", "num_postprocess_blocks"):
        if getattr(cfg, key) < 0:
            raise ValueError(f"ModelConfig.{key}: must be >= 0, got {getattr(cfg, key)}")
    if not cfg.groups_per_scale or min(cfg.groups_per_scale) < 1:
        raise ValueError(f"ModelConfig.groups_per_scale: need >= 1 group in every scale, got {cfg.groups_per_scale}")
    if cfg.num_postprocess_blocks != cfg.num_preprocess_blocks:
        raise ValueError(
            f"ModelConfig.num_postprocess_blocks ({cfg.num_postprocess_blocks}) must equal num_preprocess_blocks "
            f"({cfg.num_preprocess_blocks}) so the generator returns to the input resolution"
        )
    factor = 1 << (cfg.num_preprocess_blocks + cfg.num_scales - 1)
    if cfg.image_size % factor or cfg.image_size // factor < 1:
        raise ValueError(
            f"ModelConfig.image_size: {cfg.image_size} must be divisible by 2**(num_preprocess_blocks + "
            f"num_scales - 1) = {factor}"
        )
    if not 0.0 <= cfg.kl_warmup_fraction <= 1.0:
        raise ValueError(f"ModelConfig.kl_warmup_fraction: must lie in [0, 1], got {cfg.kl_warmup_fraction}")
    if not 0.0 < cfg.residual_scale <= 1.0:
        raise ValueError(f"ModelConfig.residual_scale: must lie in (0, 1], got {cfg.residual_scale}")
    for key in ("regularization_weight", "visibility_weight"):
        if getattr(cfg, key) < 0:
            raise ValueError(f"ModelConfig.{key}: must be >= 0, got {getattr(cfg, key)}")


def ada_groups(num_groups: int, num_scales: int) -> list[int]:
    """NVAE's adaptive group counts, finest scale first: `num_groups`, then halved (at least 1) per coarser scale.

    The authors ran `--num_groups_per_scale 5 --ada_groups` for FusionMNIST (-> [5, 2]) and 10 for CelebA and
    T-LESS (-> [10, 5, 2]).
    """
    counts, count = [], num_groups
    for _ in range(num_scales):
        counts.append(count)
        count = max(1, count // 2)
    return counts


# Published sizing (paper table 6 + the authors' NVAE settings, see DESIGN.md §3).
_LARGE = {
    "image_size": 64,
    "channels": 3,
    "base_channels": 32,
    "num_preprocess_blocks": 1,
    "num_preprocess_cells": 2,
    "num_postprocess_blocks": 1,
    "num_postprocess_cells": 2,
    "groups_per_scale": ada_groups(10, 3),
    "latent_channels": 20,
    "cells_per_group": 2,
    "regularization_weight": 1e-1,
}
PRESETS: dict[str, dict[str, Any]] = {
    # 32x32 grey, 5 groups at 8^2 and 2 at 4^2 (3,520 latent units); Bernoulli on grey levels as the authors.
    "fusion_mnist": {
        "name": "fusion_mnist",
        "image_size": 32,
        "channels": 1,
        "likelihood": "bernoulli",
        "base_channels": 8,
        "num_preprocess_blocks": 2,
        "num_preprocess_cells": 1,
        "num_postprocess_blocks": 2,
        "num_postprocess_cells": 1,
        "groups_per_scale": ada_groups(5, 2),
        "latent_channels": 10,
        "cells_per_group": 1,
        "regularization_weight": 1e-2,
    },
    # 64x64 RGB, 10 groups at 32^2, 5 at 16^2, 2 at 8^2; discretized logistic mixture with 10 components.
    "fusion_celeba": {"name": "fusion_celeba", "likelihood": "logistic_mixture", **_LARGE},
    # Same network as CelebA; the paper models T-LESS with a Bernoulli likelihood, applied per RGB channel.
    "fusion_tless": {"name": "fusion_tless", "likelihood": "bernoulli", **_LARGE},
    # FusionTabletop (not in the paper), sized for CPU training: 64x64 RGB, logistic mixture, 16 base channels,
    # 2 latent scales (16^2 and 8^2) with the most groups at the finest scale, groups listed fine-first.
    "fusion_tabletop": {
        "name": "fusion_tabletop",
        "image_size": 64,
        "channels": 3,
        "likelihood": "logistic_mixture",
        "base_channels": 16,
        "num_preprocess_blocks": 2,
        "num_preprocess_cells": 1,
        "num_postprocess_blocks": 2,
        "num_postprocess_cells": 1,
        "groups_per_scale": [4, 2],
        "latent_channels": 8,
        "cells_per_group": 1,
        "regularization_weight": 1e-2,
        "visibility_head": True,
    },
    # Minimal network for tests: 16x16 grey, 2 groups at 8^2 and 1 at 4^2.
    "tiny": {
        "name": "tiny",
        "image_size": 16,
        "channels": 1,
        "likelihood": "bernoulli",
        "base_channels": 8,
        "num_preprocess_blocks": 1,
        "num_preprocess_cells": 1,
        "num_postprocess_blocks": 1,
        "num_postprocess_cells": 1,
        "groups_per_scale": [2, 1],
        "latent_channels": 4,
        "cells_per_group": 1,
    },
}
