"""ONNX Runtime backend: runs an exported sampler on the CPU (default) or through ORT's CUDA provider.

Needs only numpy and onnxruntime at run time (no torch). Sessions use all graph optimisations, sequential
execution, a configurable intra-op thread count and, by default, no busy-waiting threads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from fusionvae_core.inference.base import InferenceBackend
from fusionvae_core.inference.device import parse_device
from fusionvae_core.inference.errors import BackendError
from fusionvae_core.inference.metadata import (
    TEMPERATURE_INPUT,
    VIEWS_INPUT,
    ModelMetadata,
    check_graph_signature,
    noise_input_name,
)
from fusionvae_core.inference.result import SamplerOutput


class OnnxRuntimeBackend(InferenceBackend):
    """An exported FusionVAE sampler in an ONNX Runtime session."""

    name = "onnxruntime"

    def __init__(
        self,
        model_path: Path,
        *,
        device: str = "cpu",
        intra_op_threads: int | None = None,
        allow_spinning: bool = False,
    ) -> None:
        if intra_op_threads is not None and (not isinstance(intra_op_threads, int) or intra_op_threads < 1):
            raise BackendError(f"onnxruntime backend: intra_op_threads must be an integer >= 1, got {intra_op_threads}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: the session's warnings are not the user's business
        if intra_op_threads is not None:
            options.intra_op_num_threads = intra_op_threads
        # Busy-waiting worker threads only pay off on an otherwise idle CPU; on a robot's shared cores they steal
        # time from the other nodes (and from each other), so they are off unless asked for.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
        try:
            session = ort.InferenceSession(str(model_path), options, providers=_providers(device))
        except Exception as error:  # ORT raises its own exception types for unreadable/invalid files
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise BackendError(
                f"model file {model_path}: not a valid ONNX model (truncated or foreign file?): {first_line}"
            ) from None
        metadata = ModelMetadata.from_props(session.get_modelmeta().custom_metadata_map, str(model_path))
        check_graph_signature(
            metadata,
            {arg.name: arg.shape for arg in session.get_inputs()},
            {arg.name: arg.shape for arg in session.get_outputs()},
            str(model_path),
        )
        super().__init__(model_path, metadata)
        self.session = session

    def run_sampler(self, views: np.ndarray, noise: list[np.ndarray], temperature: float) -> SamplerOutput:
        """One session run with the views, the temperature and the noise of every latent group."""
        feeds = {VIEWS_INPUT: views, TEMPERATURE_INPUT: np.asarray(temperature, dtype=np.float32)}
        feeds.update({noise_input_name(group): values for group, values in enumerate(noise)})
        outputs = self.session.run(list(self.metadata.expected_outputs()), feeds)
        return SamplerOutput(np.asarray(outputs[0]), np.asarray(outputs[1]) if len(outputs) > 1 else None)


def _providers(device: str) -> list[str | tuple[str, dict[str, int]]]:
    """Execution providers for `device`; CUDA needs an onnxruntime build that has the CUDA provider."""
    parsed = parse_device(device)
    if not parsed.is_cuda:
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise BackendError(
            f"onnxruntime backend: device {device!r} needs the onnxruntime-gpu package (this onnxruntime has "
            f"{ort.get_available_providers()})"
        )
    return [("CUDAExecutionProvider", {"device_id": parsed.index}), "CPUExecutionProvider"]


BACKEND_CLASS = OnnxRuntimeBackend
