"""Configuration of a baseline network: its kind, the FusionVAE preset it is compared with, and its width."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fusionvae_core.config import ModelConfig

BASELINE_KINDS = ("fcn", "fcn_s", "cvae", "cvae_s")


@dataclass(frozen=True)
class BaselineConfig:
    """`kind` in BASELINE_KINDS (`_s`: with skip connections); `model` gives image size, channels, likelihood,
    latent size and bottleneck resolution (those of the compared FusionVAE); `width` the first-level channels."""

    kind: str
    model: ModelConfig
    width: int

    def __post_init__(self) -> None:
        """Validate kind and width with messages naming the field."""
        if self.kind not in BASELINE_KINDS:
            raise ValueError(f"BaselineConfig.kind: expected one of {BASELINE_KINDS}, got {self.kind!r}")
        if not isinstance(self.model, ModelConfig):
            raise ValueError(f"BaselineConfig.model: expected a ModelConfig, got {type(self.model).__name__}")
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"BaselineConfig.width: expected an int >= 1, got {self.width!r}")

    @property
    def skip_connections(self) -> bool:
        """Whether this is a +S variant (max-fused view features added at every decoder resolution)."""
        return self.kind.endswith("_s")

    @property
    def variational(self) -> bool:
        """Whether the network has a latent variable (CVAE) rather than a deterministic output (FCN)."""
        return self.kind.startswith("cvae")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of JSON/YAML-able values (the checkpoint's model_config)."""
        return {"kind": self.kind, "model": self.model.to_dict(), "width": self.width}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BaselineConfig:
        """Inverse of `to_dict`; missing or unknown keys raise ValueError naming them."""
        if not isinstance(values, dict) or set(values) != {"kind", "model", "width"}:
            found = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise ValueError(f"BaselineConfig.from_dict expects keys ['kind', 'model', 'width'], got {found}")
        return cls(values["kind"], ModelConfig.from_dict(values["model"]), values["width"])
