"""Checkpoint files: weights + config + optional training state, written atomically, loaded safely.

A checkpoint is a plain dict of tensors and primitive values (no pickled objects), so it loads with
``torch.load(..., weights_only=True)``. Writing goes to a temporary file in the same folder followed by an
atomic rename: an interrupted write never destroys the previous checkpoint.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from fusionvae_core.atomic_file import atomic_writer

FORMAT_TAG = "fusionvae_ros/checkpoint"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, or not one of ours. The message names the file and the problem."""


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model_kind: str,
    model_config: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    train_state: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file + fsync + rename) and return its path."""
    path = Path(path)
    payload = {
        "format": FORMAT_TAG,
        "version": FORMAT_VERSION,
        "model_kind": model_kind,
        "model_config": model_config,
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "train_state": train_state or {},
        "meta": meta or {},
    }
    with atomic_writer(path) as handle:
        torch.save(payload, handle)
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint` with ``weights_only=True``; raise CheckpointError if bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: file not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path}: file is empty")
    if path.suffix.lower() == ".onnx":
        raise CheckpointError(
            f"checkpoint {path}: is an exported ONNX model; this needs the training checkpoint (.pt) it was exported "
            "from (ONNX models run in the node and bench/, e.g. `fusionvae_bag process --model`)"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/foreign files
        raise CheckpointError(
            f"checkpoint {path}: cannot be read as a fusionvae_ros checkpoint (truncated, corrupt or another "
            f"format): {_load_failure(exc)}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_TAG:
        raise CheckpointError(f"checkpoint {path}: not a fusionvae_ros checkpoint (missing format tag {FORMAT_TAG!r})")
    if payload.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path}: format version {payload.get('version')!r}, this code reads {FORMAT_VERSION}"
        )
    for key in ("model_kind", "model_config", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {path}: missing field {key!r}")
    return payload


def _load_failure(error: Exception) -> str:
    """torch.load's complaint in a few words, without its advice to retry with weights_only=False.

    That advice would make a foreign file run arbitrary code; a fusionvae_ros checkpoint never needs it.
    """
    text = " ".join(str(error).split())
    if "weights_only" in text:
        return "it holds Python objects other than tensors and plain values, or is no PyTorch file at all"
    first_sentence = text.split(". ")[0]
    return f"{type(error).__name__}: {first_sentence}" if first_sentence else type(error).__name__


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, used to tie exported models and engine caches to their source."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
