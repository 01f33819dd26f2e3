"""PyTorch backend: serves a training checkpoint (.pt) on the CPU or a CUDA GPU, eager or torch.compile'd.

Runs the same sampling function the ONNX export traces, under ``torch.inference_mode``, with the numpy noise of
the shared interface, so it produces the ONNX Runtime backend's hypotheses for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from fusionvae_core.checkpoint import CheckpointError, file_sha256
from fusionvae_core.inference.base import InferenceBackend
from fusionvae_core.inference.device import parse_device
from fusionvae_core.inference.errors import BackendError
from fusionvae_core.inference.result import SamplerOutput
from fusionvae_core.inference.torch_model import SamplingGraph, load_fusionvae, model_metadata

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class TorchBackend(InferenceBackend):
    """A FusionVAE checkpoint in eval mode on `device`; ``compile_mode`` wraps it in torch.compile."""

    name = "torch"

    def __init__(self, model_path: Path, *, device: str = "cpu", compile_mode: str | None = None) -> None:
        parsed = parse_device(device)
        if parsed.is_cuda and not torch.cuda.is_available():
            raise BackendError(f"torch backend: device {device!r} requested but torch sees no CUDA GPU")
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise BackendError(
                f"torch backend: compile_mode must be None or one of {COMPILE_MODES}, got {compile_mode!r}"
            )
        try:
            served = load_fusionvae(model_path)
        except CheckpointError as error:
            raise BackendError(str(error)) from None
        model = served.model
        metadata = model_metadata(
            model,
            checkpoint_sha=file_sha256(model_path),
            temperature=served.temperature,
            compositing=served.compositing,
        )
        super().__init__(model_path, metadata)
        self.device = torch.device(parsed.kind, parsed.index) if parsed.is_cuda else torch.device("cpu")
        self.model = model.to(self.device)
        graph = SamplingGraph(self.model).eval()
        self.sampler: Callable[..., torch.Tensor | tuple[torch.Tensor, torch.Tensor]] = (
            torch.compile(graph, mode=compile_mode) if compile_mode else graph
        )

    def run_sampler(self, views: np.ndarray, noise: list[np.ndarray], temperature: float) -> SamplerOutput:
        """Move inputs to the device, run the (compiled) sampler under inference_mode, return numpy on the CPU."""
        with torch.inference_mode():
            outputs = self.sampler(
                torch.from_numpy(views).to(self.device, non_blocking=True),
                torch.tensor(temperature, dtype=torch.float32, device=self.device),
                *(torch.from_numpy(values).to(self.device, non_blocking=True) for values in noise),
            )
            images, visibility = outputs if isinstance(outputs, tuple) else (outputs, None)
            return SamplerOutput(
                images.float().cpu().numpy(), None if visibility is None else visibility.float().cpu().numpy()
            )


BACKEND_CLASS = TorchBackend
