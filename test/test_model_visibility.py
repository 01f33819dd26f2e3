"""The visibility head: its loss term, view equivariance, that it learns window labels, ONNX/backend parity, and
that models without it keep working."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from inference_helpers import assert_onnx_matches_torch, exported_model, window_views
from visibility_helpers import trained_visibility_model, windowed_batch

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.baselines import build_baseline
from fusionvae_core.baselines.config import BaselineConfig
from fusionvae_core.export import export_checkpoint
from fusionvae_core.inference import load_backend


def test_labels_add_the_weighted_bce_to_the_loss() -> None:
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset("tiny", visibility_head=True, visibility_weight=0.5))
    views, target, labels = windowed_batch(4, 2, 16, seed=0)
    noise = model.draw_noise(4)
    plain = model(views, target, noise=noise)
    labelled = model(views, target, noise=noise, visibility=labels)
    assert plain.visibility_bce is None and labelled.visibility_bce is not None
    assert labelled.visibility_bce.shape == (4,) and bool((labelled.visibility_bce > 0).all())
    torch.testing.assert_close(labelled.loss, plain.loss + 0.5 * labelled.visibility_bce.mean())
    no_views = model(views[:, :0], target, noise=noise, visibility=labels[:, :0])
    assert no_views.visibility_bce is not None and bool((no_views.visibility_bce == 0).all())


def test_visibility_follows_the_views_when_they_are_reordered() -> None:
    torch.manual_seed(1)
    model = FusionVAE(ModelConfig.preset("tiny", visibility_head=True)).eval()
    views, _, _ = windowed_batch(2, 3, 16, seed=1)
    with torch.no_grad():
        visibility = model.predict_visibility(views)
        reordered = model.predict_visibility(views[:, [2, 0, 1]])
    assert visibility.shape == (2, 3, 16, 16) and bool(((visibility >= 0) & (visibility <= 1)).all())
    torch.testing.assert_close(reordered, visibility[:, [2, 0, 1]], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="no visibility head"):
        FusionVAE(ModelConfig.preset("tiny")).predict_visibility(views)


def test_the_head_learns_window_labels() -> None:
    model = trained_visibility_model().model
    views, _, labels = windowed_batch(16, 3, 16, seed=7)
    with torch.no_grad():
        predicted = model.predict_visibility(views) >= 0.5
    truth = labels.bool()
    iou = float((predicted & truth).sum() / (predicted | truth).sum())
    assert iou > 0.9, iou


def test_baselines_carry_the_same_head() -> None:
    cfg = ModelConfig.preset("tiny", visibility_head=True)
    for kind in ("cvae_s", "fcn_s"):
        model = build_baseline(BaselineConfig(kind, cfg, 8))
        views, target, labels = windowed_batch(3, 2, 16, seed=3)
        out = model(views, target, visibility=labels)
        assert out.visibility_bce is not None and out.visibility_bce.shape == (3,)
        out.loss.backward()
        assert model.has_visibility_head and model.predict_visibility(views).shape == (3, 2, 16, 16)


def test_export_adds_a_visibility_output_that_matches_torch() -> None:
    exported = exported_model("tiny", visibility_head=True)
    assert_onnx_matches_torch(exported)
    backends = [
        load_backend(exported.onnx, backend="onnxruntime"),
        load_backend(exported.checkpoint, backend="torch"),
    ]
    views = window_views(2, 3, 16, 1, seed=4)
    results = [backend.infer(views, num_samples=2, seed=0) for backend in backends]
    for backend, result in zip(backends, results):
        assert backend.has_visibility and not backend.compositing  # not decided on validation: off
        assert result.visibility is not None and result.visibility.dtype == np.float32
        assert result.visibility.shape == (2, 3, 16, 16)
    assert results[0].visibility is not None and results[1].visibility is not None
    assert np.abs(results[0].visibility - results[1].visibility).max() <= 1e-4


def test_a_model_without_the_head_exports_and_serves_as_before() -> None:
    backend = load_backend(exported_model("tiny", visibility_head=False).onnx)
    result = backend.infer(window_views(1, 2, 16, 1, seed=0), num_samples=2, seed=0)
    assert result.visibility is None and not backend.has_visibility and not backend.compositing


def test_the_compositing_recommendation_travels_from_checkpoint_to_every_backend(tmp_path) -> None:
    trained = trained_visibility_model()
    reexported = export_checkpoint(trained.checkpoint, tmp_path / "model.onnx").path
    for path, backend in ((trained.onnx, "onnxruntime"), (reexported, "onnxruntime"), (trained.checkpoint, "torch")):
        loaded = load_backend(path, backend=backend)
        assert loaded.has_visibility and loaded.compositing, (path, backend)
