"""ONNX export of the tiny preset: ONNX Runtime reproduces torch (same noise), metadata, temperature, validation."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from inference_helpers import assert_onnx_matches_torch, exported_model

from fusionvae_core.export import ExportError, compare_with_torch, export_onnx
from fusionvae_core.inference import load_backend
from fusionvae_core.inference.metadata import EXPORTER_VERSION, FORMAT_TAG
from fusionvae_core.inference.noise import draw_noise
from fusionvae_core.inference.torch_model import NO_CHECKPOINT, model_metadata

pytestmark = pytest.mark.slow  # exports torch models to ONNX


def test_onnxruntime_matches_torch_for_batch_and_view_counts() -> None:
    assert_onnx_matches_torch(exported_model("tiny"))


def test_metadata_describes_the_model() -> None:
    exported = exported_model("tiny")
    proto = onnx.load(str(exported.onnx))
    props = {prop.key: prop.value for prop in proto.metadata_props}
    cfg = exported.model.config
    assert props["format"] == FORMAT_TAG
    assert int(props["exporter_version"]) == EXPORTER_VERSION
    assert props["preset"] == "tiny"
    assert (int(props["image_size"]), int(props["channels"])) == (cfg.image_size, cfg.channels)
    assert props["likelihood"] == cfg.likelihood
    assert [tuple(s) for s in json.loads(props["latent_shapes"])] == exported.model.latent_shapes()
    assert props["source_checkpoint_sha256"] == NO_CHECKPOINT  # exported straight from an in-memory model
    assert json.loads(props["model_config"]) == cfg.to_dict()
    assert max(opset.version for opset in proto.opset_import if opset.domain in ("", "ai.onnx")) >= 18
    inputs = [value.name for value in proto.graph.input]
    assert inputs == ["views", "temperature"] + [f"noise_{g}" for g in range(len(cfg.group_scales()))]
    views_dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert views_dims[0].dim_param and views_dims[1].dim_param  # batch and view count are dynamic


def test_temperature_is_a_graph_input() -> None:
    exported = exported_model("tiny")
    backend = load_backend(exported.onnx)
    cfg = exported.model.config
    views = np.random.default_rng(0).random((1, 2, cfg.channels, cfg.image_size, cfg.image_size), dtype=np.float32)
    noise = draw_noise(exported.model.latent_shapes(), 4, seed=0)
    cold = backend.run_sampler(views, noise, 0.0).images
    warm = backend.run_sampler(views, noise, 1.0).images
    assert np.allclose(cold, cold[:, :1], atol=1e-6), "temperature 0 must make all samples the prior mean"
    assert not np.allclose(warm, warm[:, :1], atol=1e-6)


def test_validation_rejects_a_graph_that_differs_from_torch() -> None:
    exported = exported_model("tiny")
    changed = type(exported.model)(exported.model.config).eval()  # other weights, same architecture
    metadata = model_metadata(changed)
    with pytest.raises(ExportError, match=r"ONNX Runtime differs from torch by .* > 0\.0001"):
        compare_with_torch(changed, exported.onnx.read_bytes(), metadata, 1e-4, "model.onnx")


def test_export_rejects_bad_arguments(tmp_path) -> None:
    with pytest.raises(ExportError, match="expects a FusionVAE"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")  # type: ignore[arg-type]
    with pytest.raises(ExportError, match="num_samples_hint"):
        export_onnx(exported_model("tiny").model, tmp_path / "x.onnx", num_samples_hint=0)
    with pytest.raises(ExportError, match="opset"):
        export_onnx(exported_model("tiny").model, tmp_path / "x.onnx", opset=13)
    assert not (tmp_path / "x.onnx").exists()
