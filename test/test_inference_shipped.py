"""The shipped model (models/fusion_mnist): loads, fuses real FusionMNIST views, and matches its checkpoint.

Skipped, with the reason printed, while models/fusion_mnist/model.onnx is absent (before the lead exports it).
"""

from __future__ import annotations

import numpy as np
import pytest
from inference_helpers import SHIPPED_CHECKPOINT, SHIPPED_ONNX, assert_mean_depends_on_input

from fusionvae_core.checkpoint import file_sha256
from fusionvae_core.data import build_dataset
from fusionvae_core.inference import InferenceBackend, load_backend

pytestmark = pytest.mark.skipif(not SHIPPED_ONNX.is_file(), reason=f"no shipped model at {SHIPPED_ONNX} yet")


@pytest.fixture(scope="module")
def shipped() -> InferenceBackend:
    """The shipped ONNX model in ONNX Runtime."""
    return load_backend(SHIPPED_ONNX, backend="onnxruntime")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """Eight FusionMNIST test items: uint8 views [8, 3, 32, 32, 1] and float targets [8, 32, 32, 1]."""
    dataset = build_dataset("fusion_mnist", "test")
    items = [dataset[index] for index in range(8)]
    views = np.stack([item.views.numpy() for item in items]).transpose(0, 1, 3, 4, 2)
    targets = np.stack([item.target.numpy() for item in items]).transpose(0, 2, 3, 1)
    return np.rint(views * 255).astype(np.uint8), targets


def test_shipped_model_describes_itself(shipped: InferenceBackend) -> None:
    meta = shipped.metadata
    assert (meta.preset, shipped.image_size, shipped.channels, meta.likelihood) == (
        "fusion_mnist",
        32,
        1,
        "bernoulli",
    )
    assert meta.max_views == 3 and len(meta.source_checkpoint_sha256) == 64


def test_mean_image_depends_on_the_views(shipped: InferenceBackend) -> None:
    assert_mean_depends_on_input(shipped)


def test_mean_image_resembles_the_digit_it_was_shown(
    shipped: InferenceBackend, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    views, targets = digits
    mean = shipped.infer(views, num_samples=3, seed=0).mean.astype(np.float32) / 255.0
    own = ((mean - targets) ** 2).mean(axis=(1, 2, 3))
    other = ((mean - np.roll(targets, 1, axis=0)) ** 2).mean(axis=(1, 2, 3))
    assert own.mean() < other.mean(), f"mean image not closer to its own digit: MSE {own.mean()} vs {other.mean()}"
    assert np.mean(own < other) >= 0.75, f"only {np.mean(own < other):.0%} of the fused means match their digit"


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_CHECKPOINT.is_file(), reason=f"no shipped checkpoint at {SHIPPED_CHECKPOINT} yet")
def test_shipped_onnx_reproduces_its_checkpoint(
    shipped: InferenceBackend, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    assert shipped.metadata.source_checkpoint_sha256 == file_sha256(SHIPPED_CHECKPOINT)
    reference = load_backend(SHIPPED_CHECKPOINT, backend="torch")
    views, _ = digits
    for batch in (1, 4):
        for count in (1, 2, 3):
            subset = views[:batch, :count]
            expected = reference.infer(subset, num_samples=3, seed=count, temperature=0.8).probabilities
            actual = shipped.infer(subset, num_samples=3, seed=count, temperature=0.8).probabilities
            assert np.abs(actual - expected).max() <= 1e-4, f"batch {batch}, {count} views"
