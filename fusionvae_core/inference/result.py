"""The one post-processing step every backend shares: pixel probabilities -> uint8 hypotheses, mean and std."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


@dataclass(frozen=True)
class InferenceResult:
    """Outputs of `InferenceBackend.infer` for B view sets and S hypotheses each (images channel-last).

    hypotheses: uint8 [B, S, H, W, C]; mean: uint8 [B, H, W, C], the mean of the hypotheses' probabilities;
    std: float32 [B, H, W], per-pixel std over hypotheses of the probabilities in [0, 1], averaged over channels;
    probabilities: float32 [B, S, C, H, W], the model's raw output the other fields are computed from;
    visibility: float32 [B, K, H, W], p(view k shows the scene at each pixel), for models with a visibility head
    (None otherwise): what compositing (fusionvae_core.compositing) keeps of the views.
    """

    hypotheses: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    probabilities: np.ndarray
    visibility: np.ndarray | None = None


class SamplerOutput(NamedTuple):
    """What a backend's sampler returns: pixel probabilities [B, S, C, H, W] and, with a head, visibility
    [B, K, H, W] (None without)."""

    images: np.ndarray
    visibility: np.ndarray | None


def to_uint8(probabilities: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] -> uint8 grey levels (round to nearest, clipped)."""
    return np.clip(np.rint(probabilities * 255.0), 0.0, 255.0).astype(np.uint8)


def summarize(output: SamplerOutput) -> InferenceResult:
    """Build the InferenceResult of a sampler's output (probabilities float [B, S, C, H, W] in [0, 1])."""
    probabilities = np.asarray(output.images, dtype=np.float32)
    if probabilities.ndim != 5:
        raise ValueError(f"summarize expects probabilities [B, S, C, H, W], got shape {probabilities.shape}")
    channel_last = probabilities.transpose(0, 1, 3, 4, 2)  # [B, S, H, W, C]
    return InferenceResult(
        hypotheses=to_uint8(channel_last),
        mean=to_uint8(channel_last.mean(axis=1)),
        std=channel_last.std(axis=1).mean(axis=-1).astype(np.float32),
        probabilities=probabilities,
        visibility=None if output.visibility is None else np.asarray(output.visibility, dtype=np.float32),
    )
