"""Inference backends behind one interface: ``load_backend(model_path, backend, device).infer(views, ...)``.

ONNX Runtime (CPU default, no torch needed), PyTorch (training checkpoints, CPU/CUDA, optional torch.compile) and
TensorRT (engines built from the ONNX file). Each backend's runtime is imported when that backend is loaded, and a
missing runtime is a BackendError saying what to install.

Every unusable model file raises one BackendError, a single line ``model file <path>: <problem>``:

- ``file not found`` / ``not a regular file`` / ``file is empty``
- ``the <backend> backend reads <kind of file> (<extensions>), got a <suffix> extension; use backend ...``
- ``not a valid ONNX model (truncated or foreign file?): <runtime's reason>`` (truncated or random bytes)
- ``ONNX file without fusionvae_ros metadata (...); export it with training/export.py`` (a valid ONNX model
  that training/export.py did not write)
- ``graph inputs are [...], expected [...]`` / ``graph input 'views' has shape [...], but the model's metadata
  (...) needs [...]`` (a graph whose inputs/outputs do not fit its metadata: wrong resolution, channels, latents)
- ``metadata field '<name>' is missing`` / ``malformed metadata: ...`` / ``exported by exporter version <n>, ...``

Training checkpoints for the torch backend fail as ``checkpoint <path>: <problem>``, TensorRT engines as
``engine file <path>: <problem>``; bad `infer` arguments as ``model <path>: views must be a uint8 array ...``.
"""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from fusionvae_core.inference.base import InferenceBackend
from fusionvae_core.inference.errors import BackendError
from fusionvae_core.inference.result import InferenceResult

__all__ = ["BACKENDS", "BackendError", "InferenceBackend", "InferenceResult", "import_backend_module", "load_backend"]


@dataclass(frozen=True)
class _BackendSpec:
    """Where a backend lives, which runtime package it needs and which model files it reads."""

    title: str
    module: str
    runtimes: tuple[str, ...]
    requirement: str
    suffixes: tuple[str, ...]
    file_kind: str


BACKENDS: dict[str, _BackendSpec] = {
    "onnxruntime": _BackendSpec(
        "ONNX Runtime",
        "fusionvae_core.inference.onnxruntime",
        ("onnxruntime",),
        "the `onnxruntime` Python package (pip install onnxruntime)",
        (".onnx",),
        "an ONNX file exported by training/export.py",
    ),
    "torch": _BackendSpec(
        "PyTorch",
        "fusionvae_core.inference.torch_backend",
        ("torch",),
        "the `torch` Python package (pip install torch)",
        (".pt", ".pth"),
        "a training checkpoint written by training/train.py",
    ),
    "tensorrt": _BackendSpec(
        "TensorRT",
        "fusionvae_core.inference.tensorrt",
        ("tensorrt", "torch"),
        "the `tensorrt` Python package (TensorRT 10, from NVIDIA's wheels or JetPack; the PyPI tensorrt-*-libs "
        "stubs cannot install it offline), torch with CUDA (for its GPU buffers) and a CUDA GPU",
        (".onnx", ".plan", ".engine"),
        "an ONNX file exported by training/export.py or an engine written by it",
    ),
}


def import_backend_module(backend: str) -> ModuleType:
    """Import a backend's module after checking that its runtime packages import; BackendError says what is missing."""
    spec = _spec(backend)
    for runtime in spec.runtimes:
        try:
            importlib.import_module(runtime)
        except ImportError as error:
            raise BackendError(f"{spec.title} backend needs {spec.requirement}: {error}") from None
    return importlib.import_module(spec.module)


def load_backend(
    model_path: str | os.PathLike[str], backend: str = "onnxruntime", device: str = "cpu", **options: Any
) -> InferenceBackend:
    """Load `model_path` with the named backend on `device` ("cpu", "cuda", "cuda:N").

    Backend options: onnxruntime ``intra_op_threads``, ``allow_spinning``; torch ``compile_mode`` (None = eager, or a
    torch.compile mode such as "default" or "reduce-overhead"); tensorrt ``fp16``, ``cache_dir``, ``max_batch``,
    ``max_samples``. Every problem with the file or the arguments raises BackendError naming it.
    """
    spec = _spec(backend)
    path = Path(model_path).expanduser()
    _check_model_file(path, backend, spec)
    backend_class = import_backend_module(backend).BACKEND_CLASS
    accepted = [name for name in inspect.signature(backend_class).parameters if name not in ("model_path", "device")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise BackendError(f"{backend} backend: unknown option(s) {unknown}; it accepts {accepted}")
    loaded: InferenceBackend = backend_class(path, device=device, **options)
    return loaded


def _spec(backend: str) -> _BackendSpec:
    """The registry entry of `backend`, or BackendError listing the valid names."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose one of {sorted(BACKENDS)}")
    return BACKENDS[backend]


def _check_model_file(path: Path, backend: str, spec: _BackendSpec) -> None:
    """Raise BackendError if `path` is missing, empty, not a file or has an extension the backend cannot read."""
    if not path.exists():
        raise BackendError(f"model file {path}: file not found")
    if not path.is_file():
        raise BackendError(f"model file {path}: not a regular file")
    if path.stat().st_size == 0:
        raise BackendError(f"model file {path}: file is empty")
    if path.suffix.lower() not in spec.suffixes:
        others = [name for name, other in BACKENDS.items() if path.suffix.lower() in other.suffixes]
        hint = f"; use backend {others[0]!r} for {path.suffix} files" if others else ""
        raise BackendError(
            f"model file {path}: the {backend} backend reads {spec.file_kind} ({', '.join(spec.suffixes)}), "
            f"got a {path.suffix or 'no'} extension{hint}"
        )
