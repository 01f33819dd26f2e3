"""One fusion step without ROS: decoded camera views -> model input -> backend -> hypotheses, mean, std."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fusionvae_ros.image_codec import to_model_channels
from fusionvae_ros.preprocess import fit_to_model, stack_views

if TYPE_CHECKING:  # the core (and with it torch) is imported only when a model is loaded
    from fusionvae_core.inference import InferenceBackend


@dataclass(frozen=True)
class FusedImages:
    """Outputs of one set at the model resolution, and how long the backend took."""

    hypotheses: np.ndarray  # uint8 [S, H, W, C]
    mean: np.ndarray  # uint8 [H, W, C]
    std: np.ndarray  # float32 [H, W]
    backend_s: float


#: `temperature` value that means "the model's recommended temperature" (from its metadata).
MODEL_TEMPERATURE = -1.0

#: Encoding of a view already brought to the model's format, by model channel count.
MODEL_ENCODINGS = {1: "mono8", 3: "rgb8"}


def prepare_view(pixels: np.ndarray, encoding: str, channels: int, size: int, resize_mode: str) -> np.ndarray:
    """One decoded view in the model's format: uint8 [size, size, channels] (a no-op for prepared views)."""
    return fit_to_model(to_model_channels(pixels, encoding, channels), size, resize_mode)


def fuse_views(
    backend: InferenceBackend,
    views: list[tuple[np.ndarray, str]],
    resize_mode: str,
    num_hypotheses: int,
    temperature: float,
    seed: int | None,
) -> FusedImages:
    """Bring each (pixels, encoding) view to the model's format (if not done yet), run the backend on the K views.

    ``seed`` picks the hypotheses' noise (None: fresh noise); see ``noise_seed.set_noise_seed``. ``temperature``
    MODEL_TEMPERATURE uses the model's recommended one.
    """
    model_views = [
        prepare_view(pixels, encoding, backend.channels, backend.image_size, resize_mode) for pixels, encoding in views
    ]
    batch = stack_views(model_views)
    start = time.perf_counter()
    chosen = None if temperature == MODEL_TEMPERATURE else temperature
    result = backend.infer(batch, num_samples=num_hypotheses, seed=seed, temperature=chosen)
    backend_s = time.perf_counter() - start
    return FusedImages(
        hypotheses=result.hypotheses[0],
        mean=result.mean[0],
        std=np.asarray(result.std[0], dtype=np.float32),
        backend_s=backend_s,
    )
