"""Shared by the export and inference tests: randomly initialised models exported once per test run, test views.

Exports are slow (~25 s of CPU each), so each preset is exported once per pytest process and reused.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.checkpoint import save_checkpoint
from fusionvae_core.export import export_onnx
from fusionvae_core.inference import InferenceBackend, load_backend
from fusionvae_core.inference.noise import draw_noise

REPO = Path(__file__).resolve().parents[1]
SHIPPED_ONNX = REPO / "models" / "fusion_mnist" / "model.onnx"
SHIPPED_CHECKPOINT = REPO / "models" / "fusion_mnist" / "checkpoint.pt"
_WORKDIR = tempfile.TemporaryDirectory(prefix="fusionvae_inference_tests_")  # removed at interpreter exit


@dataclass(frozen=True)
class ExportedModel:
    """A randomly initialised model (eval mode), its checkpoint and its ONNX export (same weights)."""

    model: FusionVAE
    checkpoint: Path
    onnx: Path


@functools.cache
def exported_model(preset: str, visibility_head: bool | None = None) -> ExportedModel:
    """Seeded random `preset` model (with or without a visibility head; None: the preset's choice) saved with
    save_checkpoint and exported (in-memory path) to ONNX."""
    torch.manual_seed(0)
    overrides = {} if visibility_head is None else {"visibility_head": visibility_head}
    cfg = ModelConfig.preset(preset, **overrides)
    model = FusionVAE(cfg).eval()
    folder = Path(_WORKDIR.name) / f"{preset}_{cfg.visibility_head}"
    checkpoint = save_checkpoint(
        folder / "checkpoint.pt", model_kind="fusionvae", model_config=cfg.to_dict(), state_dict=model.state_dict()
    )
    onnx_path = folder / "model.onnx"
    export_onnx(model, onnx_path)
    return ExportedModel(model, checkpoint, onnx_path)


def scratch_dir(name: str) -> Path:
    """A fresh folder under the run's temporary directory."""
    path = Path(tempfile.mkdtemp(prefix=f"{name}_", dir=_WORKDIR.name))
    return path


def window_views(batch: int, count: int, size: int, channels: int, seed: int) -> np.ndarray:
    """uint8 views [B, K, H, W, C]: each set shows one random scene of bright boxes through K random windows."""
    rng = np.random.default_rng(seed)
    views = np.zeros((batch, count, size, size, channels), dtype=np.uint8)
    for b in range(batch):
        scene = np.zeros((size, size, channels), dtype=np.uint8)
        for _ in range(3):
            top, left = rng.integers(0, size - size // 4, 2)
            height, width = rng.integers(size // 4, size // 2 + 1, 2)
            scene[top : top + height, left : left + width] = rng.integers(128, 256, channels)
        for k in range(count):
            top, left = rng.integers(0, size // 2, 2)
            window = slice(top, top + size // 2), slice(left, left + size // 2)
            views[b, k][window] = scene[window]
    return views


def assert_mean_depends_on_input(backend: InferenceBackend) -> None:
    """The mean image must change when the views change (same seed): the model looks at its input."""
    size, channels = backend.image_size, backend.channels
    first = backend.infer(window_views(1, 3, size, channels, seed=1), num_samples=3, seed=0)
    second = backend.infer(window_views(1, 3, size, channels, seed=2), num_samples=3, seed=0)
    assert not np.array_equal(first.mean, second.mean), f"{backend.model_path}: same mean image for different views"
    assert not np.allclose(first.probabilities, second.probabilities, atol=1e-6)


def assert_onnx_matches_torch(exported: ExportedModel, tolerance: float = 1e-4) -> None:
    """ONNX Runtime and torch give the same probabilities and visibility (≤ tolerance) for batch 1 and 4,
    K = 1..3, same noise."""
    backend = load_backend(exported.onnx, backend="onnxruntime")
    cfg, model = exported.model.config, exported.model
    rng = np.random.default_rng(3)
    for batch in (1, 4):
        for count in (1, 2, 3):
            num_samples = 3
            views = rng.random((batch, count, cfg.channels, cfg.image_size, cfg.image_size), dtype=np.float32)
            noise = draw_noise(model.latent_shapes(), batch * num_samples, seed=batch * 10 + count)
            with torch.inference_mode():
                expected, visibility = model.sample_and_see(
                    torch.from_numpy(views), [torch.from_numpy(n) for n in noise], 0.7
                )
            actual = backend.run_sampler(views, noise, 0.7)
            assert actual.images.shape == (batch, num_samples, cfg.channels, cfg.image_size, cfg.image_size)
            difference = np.abs(actual.images - expected.numpy()).max()
            assert difference <= tolerance, (
                f"{cfg.name}: batch {batch}, {count} views: max |ORT - torch| = {difference}"
            )
            assert (actual.visibility is None) == (visibility is None) == (not cfg.visibility_head)
            if visibility is not None and actual.visibility is not None:
                assert actual.visibility.shape == (batch, count, cfg.image_size, cfg.image_size)
                difference = np.abs(actual.visibility - visibility.numpy()).max()
                assert difference <= tolerance, f"{cfg.name}: visibility max |ORT - torch| = {difference}"
