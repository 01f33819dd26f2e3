"""Bad model files and bad inputs give one BackendError naming the file and the problem; no torch for ONNX Runtime."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from inference_helpers import REPO, exported_model, scratch_dir, window_views
from onnx import TensorProto, helper

from fusionvae_core.inference import BackendError, load_backend

pytestmark = pytest.mark.slow  # exports a torch model to ONNX first


@pytest.fixture(scope="module")
def model_onnx() -> Path:
    return exported_model("tiny").onnx


def _write(name: str, data: bytes) -> Path:
    path = scratch_dir("bad_models") / name
    path.write_bytes(data)
    return path


def _edited_metadata(model_onnx: Path, name: str, **changes: str) -> Path:
    proto = onnx.load(str(model_onnx))
    props = {prop.key: prop.value for prop in proto.metadata_props} | changes
    onnx.helper.set_model_props(proto, props)
    return _write(name, proto.SerializeToString())


def test_missing_empty_and_folder_paths(tmp_path) -> None:
    with pytest.raises(BackendError, match=rf"model file {tmp_path}/absent.onnx: file not found"):
        load_backend(tmp_path / "absent.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(BackendError, match=r"empty\.onnx: file is empty"):
        load_backend(tmp_path / "empty.onnx")
    (tmp_path / "folder.onnx").mkdir()
    with pytest.raises(BackendError, match=r"folder\.onnx: not a regular file"):
        load_backend(tmp_path / "folder.onnx")


def test_wrong_extension_for_the_backend(model_onnx: Path) -> None:
    with pytest.raises(
        BackendError, match=r"the torch backend reads a training checkpoint .*use backend 'onnxruntime'"
    ):
        load_backend(model_onnx, backend="torch")
    checkpoint = exported_model("tiny").checkpoint
    with pytest.raises(BackendError, match=rf"{checkpoint}: the onnxruntime backend reads an ONNX file"):
        load_backend(checkpoint, backend="onnxruntime")


def test_truncated_onnx_file(model_onnx: Path) -> None:
    data = model_onnx.read_bytes()
    path = _write("truncated.onnx", data[: len(data) // 2])
    with pytest.raises(BackendError, match=rf"model file {path}: not a valid ONNX model \(truncated or foreign"):
        load_backend(path)


def test_random_bytes_are_not_a_model(model_onnx: Path) -> None:
    path = _write("noise.onnx", np.random.default_rng(0).bytes(4096))
    with pytest.raises(BackendError, match=rf"model file {path}: not a valid ONNX model"):
        load_backend(path)


def test_onnx_file_without_our_metadata(model_onnx: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    foreign = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = _write("foreign.onnx", foreign.SerializeToString())
    with pytest.raises(BackendError, match=rf"model file {path}: ONNX file without fusionvae_ros metadata"):
        load_backend(path)


def test_metadata_that_contradicts_the_graph(model_onnx: Path) -> None:
    path = _edited_metadata(model_onnx, "wrong_size.onnx", image_size="32")
    with pytest.raises(BackendError, match=rf"model file {path}: graph input 'views' has shape .* needs"):
        load_backend(path)
    path = _edited_metadata(model_onnx, "wrong_latents.onnx", latent_shapes="[[4, 4, 4]]")
    with pytest.raises(BackendError, match=rf"model file {path}: graph inputs are .*expected"):
        load_backend(path)


def test_malformed_or_future_metadata(model_onnx: Path) -> None:
    path = _edited_metadata(model_onnx, "future.onnx", exporter_version="99")
    with pytest.raises(BackendError, match=rf"model file {path}: exported by exporter version 99"):
        load_backend(path)
    path = _edited_metadata(model_onnx, "malformed.onnx", channels="one")
    with pytest.raises(BackendError, match=rf"model file {path}: malformed metadata"):
        load_backend(path)


@pytest.mark.parametrize("bad", ["0", "-0.5", "nan", "inf"])
def test_a_recommended_temperature_that_is_not_a_finite_positive_number(model_onnx: Path, bad: str, tmp_path) -> None:
    path = _edited_metadata(model_onnx, f"temperature_{bad}.onnx", temperature=bad)
    with pytest.raises(BackendError, match=rf"model file {path}: malformed metadata.*finite number > 0"):
        load_backend(path)
    payload = torch.load(exported_model("tiny").checkpoint, weights_only=True)
    payload["meta"]["temperature"] = float(bad)
    checkpoint = tmp_path / "bad_temperature.pt"
    torch.save(payload, checkpoint)
    with pytest.raises(BackendError, match=rf"checkpoint {checkpoint}: meta temperature must be a finite number > 0"):
        load_backend(checkpoint, backend="torch")


def test_corrupt_checkpoint_for_the_torch_backend(tmp_path) -> None:
    data = exported_model("tiny").checkpoint.read_bytes()
    path = tmp_path / "truncated.pt"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(BackendError, match=rf"checkpoint {path}: cannot be read"):
        load_backend(path, backend="torch")


@pytest.mark.parametrize(
    ("views", "problem"),
    [
        (np.zeros((1, 2, 16, 16, 1), np.float32), "float32 of shape"),
        (np.zeros((1, 16, 16, 1), np.uint8), r"of shape \(1, 16, 16, 1\)"),
        (np.zeros((1, 2, 32, 32, 1), np.uint8), r"shape \(1, 2, 32, 32, 1\)"),
        (np.zeros((1, 2, 16, 16, 3), np.uint8), r"shape \(1, 2, 16, 16, 3\)"),
        (np.zeros((1, 0, 16, 16, 1), np.uint8), r"shape \(1, 0, 16, 16, 1\)"),
        (np.zeros((1, 4, 16, 16, 1), np.uint8), r"shape \(1, 4, 16, 16, 1\)"),
        (np.zeros((0, 2, 16, 16, 1), np.uint8), r"shape \(0, 2, 16, 16, 1\)"),
    ],
    ids=["float", "no-view-axis", "wrong-size", "wrong-channels", "K=0", "K=4", "empty-batch"],
)
def test_views_that_do_not_fit_the_model(model_onnx: Path, views: np.ndarray, problem: str) -> None:
    backend = load_backend(model_onnx)
    expected = rf"model {model_onnx}: views must be a uint8 array \[B, K, 16, 16, 1\] .*K in 1..3, got .*{problem}"
    with pytest.raises(BackendError, match=expected):
        backend.infer(views)


def test_bad_sampling_arguments(model_onnx: Path) -> None:
    backend = load_backend(model_onnx)
    views = window_views(1, 1, 16, 1, seed=0)
    with pytest.raises(BackendError, match="num_samples must be an integer >= 1, got 0"):
        backend.infer(views, num_samples=0)
    for temperature in (-0.5, float("nan")):
        with pytest.raises(BackendError, match="temperature must be a finite number >= 0"):
            backend.infer(views, temperature=temperature)


def test_unknown_backend_and_device(model_onnx: Path) -> None:
    with pytest.raises(BackendError, match=r"unknown backend 'openvino'; choose one of \['onnxruntime', 'tensorrt'"):
        load_backend(model_onnx, backend="openvino")
    with pytest.raises(BackendError, match="device must be 'cpu', 'cuda' or 'cuda:N', got 'gpu0'"):
        load_backend(model_onnx, device="gpu0")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_missing_tensorrt_is_explained(model_onnx: Path) -> None:
    with pytest.raises(BackendError, match=r"TensorRT backend needs the `tensorrt` Python package \(TensorRT 10"):
        load_backend(model_onnx, backend="tensorrt", device="cuda")


def test_onnxruntime_backend_runs_without_torch(model_onnx: Path) -> None:
    """A laptop without torch: importing and running the ONNX Runtime backend must never import torch."""
    script = textwrap.dedent(
        f"""
        import sys
        from importlib.abc import MetaPathFinder

        class NoTorch(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError("torch is blocked in this test", name=name)

        sys.meta_path.insert(0, NoTorch())
        import numpy as np
        from fusionvae_core.inference import load_backend
        backend = load_backend({str(model_onnx)!r}, backend="onnxruntime")
        result = backend.infer(np.zeros((1, 2, 16, 16, 1), np.uint8), num_samples=2, seed=0)
        assert result.hypotheses.shape == (1, 2, 16, 16, 1)
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0 and completed.stdout.strip() == "ok", completed.stderr[-3000:]
