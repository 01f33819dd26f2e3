"""Build baselines from a kind and a FusionVAE config (auto-sized) or from a stored `BaselineConfig`."""

from __future__ import annotations

from fusionvae_core.baselines.config import BaselineConfig
from fusionvae_core.baselines.networks import ConditionalVAE, FullyConvolutionalNet
from fusionvae_core.baselines.sizing import auto_width
from fusionvae_core.config import ModelConfig

Baseline = FullyConvolutionalNet | ConditionalVAE


def build_baseline(config: BaselineConfig) -> Baseline:
    """The network described by `config` (exact width, e.g. from a checkpoint)."""
    return ConditionalVAE(config) if config.variational else FullyConvolutionalNet(config)


def sized_baseline_config(kind: str, model: ModelConfig) -> BaselineConfig:
    """Config of baseline `kind` with its width auto-sized to FusionVAE's parameter count for `model`."""
    return BaselineConfig(kind, model, auto_width(kind, model))
