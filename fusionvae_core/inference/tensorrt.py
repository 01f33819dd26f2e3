"""TensorRT backend (TensorRT 10 Python API): an engine built from the exported ONNX file, cached on disk.

The engine gets one optimisation profile over batch, view count and noise rows (see `engine_cache`), optionally
FP16. Built engines are cached under a key of ONNX SHA-256 + TensorRT version + GPU name (+ precision and profile)
and rebuilt when the key changes. Input/output buffers are torch CUDA tensors, run on torch's current stream
with the tensor-name API (set_input_shape, set_tensor_address, execute_async_v3). Imported only when used: the
package needs `tensorrt` (checked by `load_backend`) and torch with CUDA.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import tensorrt as trt
import torch

from fusionvae_core.checkpoint import file_sha256
from fusionvae_core.inference.base import InferenceBackend
from fusionvae_core.inference.device import parse_device
from fusionvae_core.inference.engine_cache import (
    EngineKey,
    Profile,
    cache_path,
    cached_or_built_engine,
    default_cache_dir,
    key_mismatch,
    optimisation_profile,
    read_engine_file,
    write_engine_file,
)
from fusionvae_core.inference.errors import BackendError
from fusionvae_core.inference.metadata import (
    TEMPERATURE_INPUT,
    VIEWS_INPUT,
    ModelMetadata,
    noise_input_name,
)
from fusionvae_core.inference.onnx_file import read_onnx_metadata
from fusionvae_core.inference.result import SamplerOutput

_LOGGER = trt.Logger(trt.Logger.WARNING)
_TORCH_DTYPES = {trt.float32: torch.float32, trt.float16: torch.float16}


class TensorRTBackend(InferenceBackend):
    """An exported sampler as a TensorRT engine on one CUDA GPU; reads .onnx (built + cached) or .plan files."""

    name = "tensorrt"

    def __init__(
        self,
        model_path: Path,
        *,
        device: str = "cuda",
        fp16: bool = False,
        cache_dir: str | Path | None = None,
        max_batch: int = 8,
        max_samples: int = 8,
    ) -> None:
        self.device = _cuda_device(device)
        if model_path.suffix.lower() == ".onnx":
            metadata = read_onnx_metadata(model_path)
            key = engine_key(model_path, self.device, fp16, optimisation_profile(metadata, max_batch, max_samples))
            cache_file = cache_path(Path(cache_dir) if cache_dir else default_cache_dir(), model_path, fp16)
            engine_bytes = cached_or_built_engine(
                cache_file, key, metadata, functools.partial(build_engine, model_path, key.profile, fp16, self.device)
            )
            profile_max = {name: shapes[2] for name, shapes in key.profile.items()}
        else:
            engine_file = read_engine_file(model_path)
            current = {"tensorrt_version": trt.__version__, "gpu_name": torch.cuda.get_device_name(self.device)}
            stale = key_mismatch(engine_file.key, current)
            if stale:
                raise BackendError(
                    f"engine file {model_path}: built for another setup ({'; '.join(stale)}); rebuild it from the "
                    f"ONNX file (training/export.py --engine, or load the .onnx with the tensorrt backend)"
                )
            metadata = ModelMetadata.from_props(engine_file.metadata_props, str(model_path))
            engine_bytes = engine_file.engine
            profile_max = {name: engine_file.profile_max(name) for name in engine_file.key["profile"]}
        super().__init__(model_path, metadata)
        self.max_batch = profile_max[VIEWS_INPUT][0]
        self.max_rows = profile_max[noise_input_name(0)][0]
        with torch.cuda.device(self.device):
            self.engine = trt.Runtime(_LOGGER).deserialize_cuda_engine(engine_bytes)
            if self.engine is None:
                raise BackendError(f"model file {model_path}: TensorRT could not deserialize the engine")
            self.context = self.engine.create_execution_context()

    def run_sampler(self, views: np.ndarray, noise: list[np.ndarray], temperature: float) -> SamplerOutput:
        """Copy inputs to the GPU, run the engine on torch's current stream, copy the outputs back."""
        batch, rows = views.shape[0], noise[0].shape[0]
        if batch > self.max_batch or rows > self.max_rows:
            raise BackendError(
                f"model {self.model_path}: batch {batch} × samples {rows // batch} exceeds the engine's profile "
                f"(batch <= {self.max_batch}, batch·samples <= {self.max_rows}); load it with larger max_batch / "
                f"max_samples"
            )
        host_inputs = {VIEWS_INPUT: views, TEMPERATURE_INPUT: np.asarray(temperature, dtype=np.float32)}
        host_inputs.update({noise_input_name(group): values for group, values in enumerate(noise)})
        with torch.cuda.device(self.device):
            stream = torch.cuda.current_stream(self.device)
            buffers = {name: self._device_tensor(name, values) for name, values in host_inputs.items()}
            for name, tensor in buffers.items():
                self.context.set_input_shape(name, tuple(tensor.shape))
                self.context.set_tensor_address(name, tensor.data_ptr())
            outputs = {
                name: torch.empty(
                    tuple(self.context.get_tensor_shape(name)),
                    dtype=_TORCH_DTYPES[self.engine.get_tensor_dtype(name)],
                    device=self.device,
                )
                for name in self.metadata.expected_outputs()
            }
            for name, tensor in outputs.items():
                self.context.set_tensor_address(name, tensor.data_ptr())
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise BackendError(f"model {self.model_path}: TensorRT execution failed")
            results = [tensor.float().cpu().numpy() for tensor in outputs.values()]  # .cpu() waits for the stream
        return SamplerOutput(results[0], results[1] if len(results) > 1 else None)

    def _device_tensor(self, name: str, values: np.ndarray) -> torch.Tensor:
        """A contiguous GPU copy of an input in the dtype the engine expects for it."""
        dtype = _TORCH_DTYPES[self.engine.get_tensor_dtype(name)]
        return torch.from_numpy(np.ascontiguousarray(values)).to(self.device, dtype=dtype)


def engine_key(onnx_path: Path, device: torch.device, fp16: bool, profile: Profile) -> EngineKey:
    """The cache key of an engine for `onnx_path` built here (this TensorRT version, this GPU model)."""
    return EngineKey(file_sha256(onnx_path), trt.__version__, torch.cuda.get_device_name(device), fp16, profile)


def build_engine(onnx_path: Path, profile: Profile, fp16: bool, device: torch.device) -> bytes:
    """Parse the ONNX file and build a serialized engine with one optimisation profile (FP16 if asked)."""
    with torch.cuda.device(device):
        builder = trt.Builder(_LOGGER)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, _LOGGER)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
            raise BackendError(f"model file {onnx_path}: TensorRT cannot parse it: {errors}")
        config = builder.create_builder_config()
        if fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        shapes = builder.create_optimization_profile()
        for name, (smallest, optimum, largest) in profile.items():
            shapes.set_shape(name, smallest, optimum, largest)
        config.add_optimization_profile(shapes)
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"model file {onnx_path}: TensorRT failed to build an engine (see its log above)")
    return bytes(serialized)


def build_engine_file(
    onnx_path: Path,
    engine_path: Path,
    *,
    fp16: bool = False,
    device: str = "cuda",
    max_batch: int = 8,
    max_samples: int = 8,
) -> EngineKey:
    """Build an engine for `onnx_path` and write it (atomically) to `engine_path`; returns the key it was built for."""
    cuda = _cuda_device(device)
    metadata = read_onnx_metadata(onnx_path)
    key = engine_key(onnx_path, cuda, fp16, optimisation_profile(metadata, max_batch, max_samples))
    write_engine_file(engine_path, key, metadata, build_engine(onnx_path, key.profile, fp16, cuda))
    return key


def _cuda_device(device: str) -> torch.device:
    """The torch CUDA device for `device`; BackendError for the CPU or when torch sees no GPU."""
    parsed = parse_device(device)
    if not parsed.is_cuda:
        raise BackendError(f"tensorrt backend runs on a CUDA GPU: set device to 'cuda' or 'cuda:N', got {device!r}")
    if not torch.cuda.is_available():
        raise BackendError("tensorrt backend: torch sees no CUDA GPU (it needs torch with CUDA for its buffers)")
    return torch.device("cuda", parsed.index)


BACKEND_CLASS = TensorRTBackend
