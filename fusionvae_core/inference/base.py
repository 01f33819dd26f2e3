"""The backend interface shared by ONNX Runtime, PyTorch and TensorRT: input checks, noise, post-processing.

A backend only implements `run_sampler` (float views + noise + temperature -> pixel probabilities and, for models
with a visibility head, per-view visibility); `infer` turns uint8 camera views into that call and its output into
an `InferenceResult`, identically for all.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from fusionvae_core.inference.errors import BackendError
from fusionvae_core.inference.metadata import ModelMetadata
from fusionvae_core.inference.noise import draw_noise
from fusionvae_core.inference.result import InferenceResult, SamplerOutput, summarize


class InferenceBackend(ABC):
    """A loaded FusionVAE sampler. ``infer(views, num_samples, seed, temperature)`` is the whole contract."""

    name: str = "abstract"

    def __init__(self, model_path: Path, metadata: ModelMetadata) -> None:
        self.model_path = model_path
        self.metadata = metadata

    @property
    def image_size(self) -> int:
        """Square input/output resolution H = W of the model."""
        return self.metadata.image_size

    @property
    def channels(self) -> int:
        """Image channels C of the model (1 grey, 3 RGB)."""
        return self.metadata.channels

    @property
    def temperature(self) -> float:
        """The model's recommended sampling temperature (a shipped model's validation-best), used when none is given."""
        return self.metadata.temperature

    def infer(
        self, views: np.ndarray, num_samples: int = 1, seed: int | None = 0, temperature: float | None = None
    ) -> InferenceResult:
        """Fuse uint8 views [B, K, H, W, C] (K in 1..max_views) into S = `num_samples` hypotheses per set.

        The noise comes from ``numpy.random.default_rng(seed)``: the same seed gives the same hypotheses on every
        backend. `temperature` scales the priors' σ (1.0 = the model's prior, smaller = closer to the mode); None
        uses the model's recommended `temperature`.
        """
        model_views = self.model_input(views)
        if temperature is None:
            temperature = self.temperature
        if isinstance(num_samples, bool) or not isinstance(num_samples, int | np.integer) or num_samples < 1:
            raise BackendError(f"model {self.model_path}: num_samples must be an integer >= 1, got {num_samples!r}")
        if not isinstance(temperature, int | float | np.floating) or not math.isfinite(temperature) or temperature < 0:
            raise BackendError(
                f"model {self.model_path}: temperature must be a finite number >= 0, got {temperature!r}"
            )
        noise = draw_noise(self.metadata.latent_shapes, model_views.shape[0] * int(num_samples), seed)
        return summarize(self.run_sampler(model_views, noise, float(temperature)))

    def model_input(self, views: np.ndarray) -> np.ndarray:
        """Check uint8 views [B, K, H, W, C] against the model and convert them to float32 [B, K, C, H, W] in [0, 1]."""
        size, channels, max_views = self.image_size, self.channels, self.metadata.max_views
        expected = f"uint8 array [B, K, {size}, {size}, {channels}] with B >= 1 and K in 1..{max_views}"
        if not isinstance(views, np.ndarray) or views.dtype != np.uint8 or views.ndim != 5:
            description = f"{getattr(views, 'dtype', type(views).__name__)} of shape {getattr(views, 'shape', '?')}"
            raise BackendError(f"model {self.model_path}: views must be a {expected}, got {description}")
        batch, count, height, width, depth = views.shape
        if batch < 1 or not 1 <= count <= max_views or (height, width, depth) != (size, size, channels):
            raise BackendError(f"model {self.model_path}: views must be a {expected}, got shape {views.shape}")
        return np.ascontiguousarray(views.transpose(0, 1, 4, 2, 3), dtype=np.float32) * np.float32(1.0 / 255.0)

    @property
    def has_visibility(self) -> bool:
        """Whether `infer` returns per-view visibility (the model has a visibility head)."""
        return self.metadata.visibility

    @property
    def compositing(self) -> bool:
        """Whether compositing with the visibility helped this model on validation: the node's default."""
        return self.metadata.compositing

    @abstractmethod
    def run_sampler(self, views: np.ndarray, noise: list[np.ndarray], temperature: float) -> SamplerOutput:
        """Run the sampler: float32 views [B, K, C, H, W] + noise per group [B·S, C_l, h_l, w_l] -> images
        [B, S, C, H, W] and visibility [B, K, H, W] (None without a head)."""
