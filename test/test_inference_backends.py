"""The backend contract: output types and shapes, seeds, temperature, ONNX Runtime == PyTorch, input dependence."""

from __future__ import annotations

import numpy as np
import pytest
from inference_helpers import assert_mean_depends_on_input, exported_model, window_views

from fusionvae_core.inference import BackendError, load_backend
from fusionvae_core.inference.result import SamplerOutput, summarize

pytestmark = pytest.mark.slow  # exports a torch model to ONNX first


@pytest.fixture(scope="module")
def backends() -> dict[str, object]:
    """ONNX Runtime (2 threads) on the tiny export and PyTorch on the same weights' checkpoint."""
    exported = exported_model("tiny")
    return {
        "onnxruntime": load_backend(exported.onnx, backend="onnxruntime", device="cpu", intra_op_threads=2),
        "torch": load_backend(exported.checkpoint, backend="torch", device="cpu"),
    }


@pytest.mark.parametrize("name", ["onnxruntime", "torch"])
def test_infer_returns_the_documented_arrays(backends, name: str) -> None:
    backend = backends[name]
    size, channels = backend.image_size, backend.channels
    assert (size, channels) == (16, 1)
    result = backend.infer(window_views(2, 3, size, channels, seed=0), num_samples=4, seed=0, temperature=1.0)
    assert result.hypotheses.dtype == np.uint8 and result.hypotheses.shape == (2, 4, size, size, channels)
    assert result.mean.dtype == np.uint8 and result.mean.shape == (2, size, size, channels)
    assert result.std.dtype == np.float32 and result.std.shape == (2, size, size)
    assert np.all(result.std >= 0) and np.all(result.std <= 0.5)
    assert np.any(result.std > 0), "different noise per hypothesis must give different hypotheses"
    assert result.visibility is None and not backend.has_visibility  # the tiny preset has no visibility head


def test_onnxruntime_and_torch_give_the_same_hypotheses_for_a_seed(backends) -> None:
    for count in (1, 2, 3):
        views = window_views(3, count, 16, 1, seed=count)
        ort_result = backends["onnxruntime"].infer(views, num_samples=3, seed=42, temperature=0.8)
        torch_result = backends["torch"].infer(views, num_samples=3, seed=42, temperature=0.8)
        assert np.abs(ort_result.probabilities - torch_result.probabilities).max() <= 1e-4
        # uint8 rounding may flip a level where a probability sits within 1e-4 of a rounding boundary
        assert np.abs(ort_result.hypotheses.astype(int) - torch_result.hypotheses).max() <= 1
        assert np.mean(ort_result.hypotheses == torch_result.hypotheses) > 0.99


@pytest.mark.parametrize("name", ["onnxruntime", "torch"])
def test_seed_and_temperature_control_the_noise(backends, name: str) -> None:
    backend = backends[name]
    views = window_views(1, 2, 16, 1, seed=5)
    first = backend.infer(views, num_samples=3, seed=7)
    assert np.array_equal(first.hypotheses, backend.infer(views, num_samples=3, seed=7).hypotheses)
    assert not np.array_equal(first.probabilities, backend.infer(views, num_samples=3, seed=8).probabilities)
    cold = backend.infer(views, num_samples=3, seed=7, temperature=0.0)
    assert np.all(cold.std < 1e-6), "temperature 0 samples every latent at its prior mean"
    single = backend.infer(views, num_samples=1, seed=7)
    assert np.all(single.std == 0)
    assert np.array_equal(single.mean, single.hypotheses[:, 0])


def test_summary_statistics_follow_the_probabilities() -> None:
    probabilities = np.random.default_rng(0).random((2, 5, 3, 4, 4), dtype=np.float32)
    result = summarize(SamplerOutput(probabilities, None))
    channel_last = np.moveaxis(probabilities, 2, -1)
    assert np.array_equal(result.hypotheses, np.round(channel_last * 255).astype(np.uint8))
    assert np.array_equal(result.mean, np.round(channel_last.mean(axis=1) * 255).astype(np.uint8))
    per_channel_std = np.sqrt(((channel_last - channel_last.mean(axis=1, keepdims=True)) ** 2).mean(axis=1))
    np.testing.assert_allclose(result.std, per_channel_std.mean(axis=-1), rtol=1e-5, atol=1e-7)


def test_mean_image_depends_on_the_views() -> None:
    assert_mean_depends_on_input(load_backend(exported_model("tiny").onnx, backend="onnxruntime"))


def test_backend_options_are_checked() -> None:
    exported = exported_model("tiny")
    with pytest.raises(BackendError, match=r"unknown option\(s\) \['threads'\]"):
        load_backend(exported.onnx, backend="onnxruntime", threads=2)
    with pytest.raises(BackendError, match="intra_op_threads must be an integer >= 1"):
        load_backend(exported.onnx, backend="onnxruntime", intra_op_threads=0)
    with pytest.raises(BackendError, match="compile_mode must be None or one of"):
        load_backend(exported.checkpoint, backend="torch", compile_mode="fast")
