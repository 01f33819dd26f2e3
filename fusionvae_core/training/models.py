"""Build the network a training config names, and rebuild any trained network from its checkpoint."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from fusionvae_core.baselines import BASELINE_KINDS, Baseline, BaselineConfig, build_baseline, sized_baseline_config
from fusionvae_core.checkpoint import CheckpointError, load_checkpoint
from fusionvae_core.config import ModelConfig
from fusionvae_core.model import FusionVAE

TrainableModel = FusionVAE | Baseline


@dataclass(frozen=True)
class TrainedModel:
    """A network rebuilt from a checkpoint, with its kind, the checkpoint's `meta` and its `train_state`."""

    kind: str
    model: TrainableModel
    meta: dict[str, Any]
    train_state: dict[str, Any]


def build_model(kind: str, model: ModelConfig) -> tuple[TrainableModel, dict[str, Any]]:
    """The network of `kind` ("fusionvae" or a baseline, auto-sized to FusionVAE) and its checkpoint config."""
    if kind == "fusionvae":
        return FusionVAE(model), model.to_dict()
    if kind in BASELINE_KINDS:
        config = sized_baseline_config(kind, model)
        return build_baseline(config), config.to_dict()
    raise ValueError(f"unknown model kind {kind!r}; expected 'fusionvae' or one of {BASELINE_KINDS}")


def model_from_checkpoint(payload: dict[str, Any], source: str) -> TrainableModel:
    """Rebuild the network stored in a loaded checkpoint and load its weights; CheckpointError if they mismatch."""
    kind = payload["model_kind"]
    if kind != "fusionvae" and kind not in BASELINE_KINDS:
        raise CheckpointError(f"checkpoint {source}: unknown model kind {kind!r}")
    try:
        if kind == "fusionvae":
            model: TrainableModel = FusionVAE(ModelConfig.from_dict(payload["model_config"]))
        else:
            model = build_baseline(BaselineConfig.from_dict(payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
    except (ValueError, TypeError, RuntimeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"checkpoint {source}: its weights do not fit its {kind} config: {first_line}") from None
    return model


#: Parameter prefixes a checkpoint may lack when it initialises a model: parts added since (trained from scratch).
NEW_PARTS = ("visibility_head.",)


def initialise_from(model: TrainableModel, kind: str, path: str | os.PathLike[str]) -> str:
    """Load the weights of the checkpoint at `path` into a freshly built `model` of `kind` (fine-tuning); the
    parts in NEW_PARTS may be missing from it. Returns a one-line account; CheckpointError if the weights do not fit.
    """
    payload = load_checkpoint(path)
    if payload["model_kind"] != kind:
        raise CheckpointError(
            f"run.init_from {path}: holds a {payload['model_kind']!r} model, this run trains {kind!r}"
        )
    try:
        missing, unexpected = model.load_state_dict(payload["state_dict"], strict=False)
    except RuntimeError as error:  # a tensor of another shape: another preset, size or channel count
        first_line = str(error).strip().splitlines()[1:2] or [type(error).__name__]
        raise CheckpointError(
            f"run.init_from {path}: its weights do not fit this model: {first_line[0].strip()}"
        ) from None
    new = sorted({key.split(".")[0] for key in missing if key.startswith(NEW_PARTS)})
    unfit = [key for key in missing if not key.startswith(NEW_PARTS)] + list(unexpected)
    if unfit:
        raise CheckpointError(
            f"run.init_from {path}: its weights do not fit this model ({len(unfit)} tensors differ, e.g. {unfit[0]})"
        )
    return f"initialised from {path}" + (f" (new, trained from scratch: {', '.join(new)})" if new else "")


def load_trained_model(path: str | os.PathLike[str]) -> TrainedModel:
    """Load a checkpoint file (CPU tensors) and rebuild its network in eval mode; CheckpointError if unusable."""
    payload = load_checkpoint(path)
    model = model_from_checkpoint(payload, str(path))
    model.eval()
    meta, train_state = payload.get("meta", {}), payload.get("train_state", {})
    if not isinstance(meta, dict) or not isinstance(train_state, dict):
        raise CheckpointError(f"checkpoint {path}: 'meta' and 'train_state' must be mappings")
    return TrainedModel(payload["model_kind"], model, meta, train_state)
