"""Reading an exported model's metadata and graph signature with the `onnx` package (for TensorRT; no torch)."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from fusionvae_core.inference.errors import BackendError
from fusionvae_core.inference.metadata import Dim, ModelMetadata, check_graph_signature


def read_onnx_metadata(path: Path) -> ModelMetadata:
    """Metadata of an exported sampler, after checking its graph inputs/outputs; BackendError naming the file."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError) as error:
        raise BackendError(f"model file {path}: not a valid ONNX model (truncated or foreign file?): {error}") from None
    metadata = ModelMetadata.from_props({prop.key: prop.value for prop in model.metadata_props}, str(path))
    check_graph_signature(
        metadata,
        {value.name: _shape(value) for value in model.graph.input},
        {value.name: _shape(value) for value in model.graph.output},
        str(path),
    )
    return metadata


def _shape(value: onnx.ValueInfoProto) -> tuple[Dim, ...]:
    """Dimensions of a graph input/output: sizes, symbolic names or None."""
    dims = value.type.tensor_type.shape.dim
    return tuple(dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or None) for dim in dims)
