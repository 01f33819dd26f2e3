"""The torch side of serving a FusionVAE: checkpoint -> model, the sampling graph, the model's metadata.

Shared by the PyTorch backend and the ONNX exporter (which traces `SamplingGraph`), so both run the same function.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
from torch import nn

from fusionvae_core.checkpoint import CheckpointError, load_checkpoint
from fusionvae_core.config import ModelConfig
from fusionvae_core.inference.metadata import ModelMetadata, checked_temperature
from fusionvae_core.model import FusionVAE

MODEL_KIND = "fusionvae"
NO_CHECKPOINT = "none (exported from an in-memory model)"


class SamplingGraph(nn.Module):
    """The exported function: ``(views, temperature, *noise) -> images`` (and ``visibility`` for models with a
    visibility head) around `FusionVAE.sample_and_see`."""

    def __init__(self, model: FusionVAE) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, views: torch.Tensor, temperature: torch.Tensor, *noise: torch.Tensor
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Images [B, S, C, H, W] in [0, 1] for views [B, K, C, H, W] (K >= 1) and noise [B·S, C_l, h_l, w_l] per
        group; with a head also the views' visibility [B, K, H, W]."""
        images, visibility = self.model.sample_and_see(views, list(noise), temperature)
        return images if visibility is None else (images, visibility)


def model_metadata(
    model: FusionVAE,
    *,
    checkpoint_sha: str | None = None,
    num_samples_hint: int = 3,
    temperature: float = 1.0,
    compositing: bool = False,
) -> ModelMetadata:
    """The metadata an exported (or torch-served) model carries; `checkpoint_sha` names its source checkpoint,
    `temperature` is the sampling temperature recommended for it and `compositing` whether compositing helped it."""
    cfg = model.config
    return ModelMetadata(
        preset=cfg.name,
        image_size=cfg.image_size,
        channels=cfg.channels,
        likelihood=cfg.likelihood,
        max_views=cfg.max_views,
        latent_shapes=tuple(model.latent_shapes()),
        source_checkpoint_sha256=checkpoint_sha or NO_CHECKPOINT,
        num_samples_hint=num_samples_hint,
        model_config=cfg.to_dict(),
        temperature=temperature,
        visibility=model.has_visibility_head,
        compositing=compositing and model.has_visibility_head,
    )


class ServedModel(NamedTuple):
    """A FusionVAE loaded for serving, the sampling temperature its checkpoint recommends (1.0 if none) and whether
    compositing helped it on validation (ship_model.py; False if not recorded)."""

    model: FusionVAE
    temperature: float
    compositing: bool = False


def load_fusionvae(checkpoint_path: str | os.PathLike[str], map_location: str = "cpu") -> ServedModel:
    """A FusionVAE in eval mode from a checkpoint, with the temperature in its `meta` (ship_model.py records the
    validation-best one); CheckpointError naming the file when it is not a usable one.

    Only FusionVAE has a sampling path to serve, so baseline checkpoints are rejected by name. (Not
    `fusionvae_core.training.model_from_checkpoint`: importing the training package pulls TensorBoard into every
    process that serves a model.)
    """
    payload = load_checkpoint(checkpoint_path, map_location=map_location)
    if payload["model_kind"] != MODEL_KIND:
        raise CheckpointError(
            f"checkpoint {checkpoint_path}: holds a {payload['model_kind']!r} model, but only {MODEL_KIND!r} "
            "checkpoints can be exported or served (baselines have no sampling path)"
        )
    try:
        model = FusionVAE(ModelConfig.from_dict(payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
    except (ValueError, TypeError, KeyError, RuntimeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"checkpoint {checkpoint_path}: its weights do not fit its model config: {first_line}"
        ) from None
    meta = payload.get("meta", {})
    try:
        temperature = checked_temperature(meta.get("temperature", 1.0))
    except ValueError as error:
        raise CheckpointError(f"checkpoint {checkpoint_path}: meta {error}") from None
    compositing = meta.get("compositing", False)
    if not isinstance(compositing, bool):
        raise CheckpointError(
            f"checkpoint {checkpoint_path}: meta compositing must be true or false, got {compositing!r}"
        )
    return ServedModel(model.eval(), temperature, compositing)
