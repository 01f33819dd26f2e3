"""Export FusionVAE's sampling path (context encoder, priors, generator) to ONNX and prove the file right.

The graph takes views [B, K, C, H, W] (B dynamic, K in 1..max_views), a 0-d temperature and one noise input per
latent group [B·S, C_l, h_l, w_l], and returns the likelihood-mean images [B, S, C, H, W] and, for models with a
visibility head, the views' visibility [B, K, H, W] (see `fusionvae_core.inference.metadata`). Before the file is
written, onnx.checker must accept it and ONNX Runtime must reproduce torch's outputs for the same noise; otherwise
ExportError and nothing is written.
"""

from __future__ import annotations

import copy
import logging
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from fusionvae_core.atomic_file import write_atomically
from fusionvae_core.checkpoint import file_sha256
from fusionvae_core.inference.metadata import (
    IMAGES_OUTPUT,
    TEMPERATURE_INPUT,
    VIEWS_INPUT,
    VISIBILITY_OUTPUT,
    ModelMetadata,
    noise_input_name,
)
from fusionvae_core.inference.noise import draw_noise
from fusionvae_core.inference.torch_model import SamplingGraph, load_fusionvae, model_metadata
from fusionvae_core.model import FusionVAE

DEFAULT_OPSET = 18
DEFAULT_TOLERANCE = 1e-4
#: (batch, views) combinations ONNX Runtime is checked against torch on before a file is written.
VALIDATION_CASES = ((1, 1), (2, 2), (3, 3))


class ExportError(RuntimeError):
    """The export failed or produced a file that does not reproduce the torch model; the message says why."""


@dataclass(frozen=True)
class ExportReport:
    """What `export_onnx` wrote and how closely ONNX Runtime matched torch."""

    path: Path
    sha256: str
    metadata: ModelMetadata
    max_abs_diff: float
    seconds: float


def export_checkpoint(
    checkpoint_path: str | os.PathLike[str],
    onnx_path: str | os.PathLike[str],
    *,
    num_samples_hint: int = 3,
    opset: int = DEFAULT_OPSET,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ExportReport:
    """Export the model of a checkpoint (see `export_onnx`); the checkpoint's SHA-256, recommended temperature and
    compositing decision go into the metadata."""
    served = load_fusionvae(checkpoint_path)
    return export_onnx(
        served.model,
        onnx_path,
        checkpoint_sha=file_sha256(checkpoint_path),
        temperature=served.temperature,
        compositing=served.compositing,
        num_samples_hint=num_samples_hint,
        opset=opset,
        tolerance=tolerance,
    )


def export_onnx(
    model: FusionVAE,
    path: str | os.PathLike[str],
    *,
    checkpoint_sha: str | None = None,
    num_samples_hint: int = 3,
    opset: int = DEFAULT_OPSET,
    tolerance: float = DEFAULT_TOLERANCE,
    temperature: float = 1.0,
    compositing: bool = False,
) -> ExportReport:
    """Export `model`'s sampling path to `path` (atomically), validated against torch; the model is not modified.

    `num_samples_hint` is the typical hypotheses count S (example shape of the export, TensorRT's optimisation
    profile); any S works at run time. `temperature` is recorded as the model's recommended one (backends use it
    when the caller gives none), `compositing` as whether compositing helped it (the node's default; only for a
    model with a visibility head). Raises ExportError if export, checking or the torch comparison fails.
    """
    if not isinstance(model, FusionVAE):
        raise ExportError(f"export_onnx expects a FusionVAE, got {type(model).__name__}")
    if num_samples_hint < 1:
        raise ExportError(f"num_samples_hint must be >= 1, got {num_samples_hint}")
    if opset < DEFAULT_OPSET:
        raise ExportError(f"opset must be >= {DEFAULT_OPSET} (the dynamo exporter's minimum), got {opset}")
    start = time.perf_counter()
    path = Path(path)
    model = copy.deepcopy(model).cpu().eval()
    metadata = model_metadata(
        model,
        checkpoint_sha=checkpoint_sha,
        num_samples_hint=num_samples_hint,
        temperature=temperature,
        compositing=compositing,
    )
    proto = _trace_to_onnx(SamplingGraph(model).eval(), metadata, opset)
    onnx.helper.set_model_props(proto, metadata.to_props())
    proto.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "samples"
    if metadata.visibility:
        proto.graph.output[1].type.tensor_type.shape.dim[1].dim_param = "views"
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as error:
        raise ExportError(f"exported graph for {path} fails onnx.checker: {error}") from None
    serialized = proto.SerializeToString()
    max_abs_diff = compare_with_torch(model, serialized, metadata, tolerance, str(path))
    write_atomically(path, serialized)
    return ExportReport(path, file_sha256(path), metadata, max_abs_diff, time.perf_counter() - start)


def compare_with_torch(
    model: FusionVAE, serialized: bytes, metadata: ModelMetadata, tolerance: float, name: str
) -> float:
    """Max |ONNX Runtime − torch| over `VALIDATION_CASES` with shared noise; ExportError above `tolerance`."""
    import onnxruntime as ort

    session = ort.InferenceSession(serialized, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for case, (batch, count) in enumerate(VALIDATION_CASES):
        num_samples = metadata.num_samples_hint
        views = rng.random((batch, count, metadata.channels, metadata.image_size, metadata.image_size), np.float32)
        noise = draw_noise(metadata.latent_shapes, batch * num_samples, seed=case)
        temperature = np.float32(0.8)
        feeds = {VIEWS_INPUT: views, TEMPERATURE_INPUT: np.asarray(temperature)}
        feeds.update({noise_input_name(group): values for group, values in enumerate(noise)})
        onnx_outputs = session.run(list(metadata.expected_outputs()), feeds)
        with torch.inference_mode():
            images, visibility = model.sample_and_see(
                torch.from_numpy(views), [torch.from_numpy(n) for n in noise], torch.tensor(temperature)
            )
        torch_outputs = [tensor.numpy() for tensor in (images, visibility) if tensor is not None]
        for output_name, onnx_output, torch_output in zip(metadata.expected_outputs(), onnx_outputs, torch_outputs):
            case_text = f"output {output_name!r}, batch {batch}, {count} views, {num_samples} samples"
            if onnx_output.shape != torch_output.shape:
                raise ExportError(
                    f"export of {name} is wrong: ONNX Runtime returned shape {onnx_output.shape}, torch "
                    f"{torch_output.shape} ({case_text})"
                )
            difference = float(np.max(np.abs(onnx_output - torch_output)))
            if not difference <= tolerance:
                raise ExportError(
                    f"export of {name} is wrong: ONNX Runtime differs from torch by {difference:.3g} > "
                    f"{tolerance:g} ({case_text}); nothing was written"
                )
            worst = max(worst, difference)
    return worst


def _trace_to_onnx(graph: SamplingGraph, metadata: ModelMetadata, opset: int) -> onnx.ModelProto:
    """Run torch's dynamo ONNX exporter with dynamic batch, view count and noise rows."""
    batch, count, num_samples = 2, 2, metadata.num_samples_hint
    size, channels = metadata.image_size, metadata.channels
    views = torch.rand(batch, count, channels, size, size)
    noise = [torch.from_numpy(n) for n in draw_noise(metadata.latent_shapes, batch * num_samples, seed=0)]
    batch_dim = torch.export.Dim("batch", min=1)
    views_dim = torch.export.Dim("views", min=1, max=metadata.max_views)
    rows_dim = torch.export.Dim("rows", min=1)
    dynamic_shapes = {
        "views": {0: batch_dim, 1: views_dim},
        "temperature": None,
        "noise": tuple({0: rows_dim} for _ in noise),
    }
    input_names = [VIEWS_INPUT, TEMPERATURE_INPUT] + [noise_input_name(g) for g in range(len(noise))]
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                graph,
                (views, torch.tensor(1.0), *noise),
                dynamo=True,
                dynamic_shapes=dynamic_shapes,
                input_names=input_names,
                output_names=[IMAGES_OUTPUT, VISIBILITY_OUTPUT] if metadata.visibility else [IMAGES_OUTPUT],
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
    except Exception as error:  # the exporter raises many types; the first line says what failed
        raise ExportError(f"torch.onnx.export failed: {type(error).__name__}: {_first_line(error)}") from error
    if program is None:
        raise ExportError("torch.onnx.export returned no program")
    return program.model_proto


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's informational warnings (torchvision ops, axis renaming) during an export."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*axis name.*will not be used.*")
            warnings.filterwarnings("ignore", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _first_line(error: BaseException) -> str:
    """First non-empty line of an exception message."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
