"""TensorRT engine files and their cache, in pure Python (testable without TensorRT or a GPU).

An engine only runs on the TensorRT version and GPU model that built it, with the optimisation profile and
precision it was built for, so every engine file starts with a header holding that key (plus the ONNX file's
SHA-256 and the model metadata); a cached engine whose key differs from the current one is rebuilt. Files are
written atomically, so concurrent readers never see a half-written engine.

File layout: MAGIC, 8-byte little-endian header length, UTF-8 JSON header, serialized engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fusionvae_core.atomic_file import write_atomically
from fusionvae_core.inference.errors import BackendError
from fusionvae_core.inference.metadata import TEMPERATURE_INPUT, VIEWS_INPUT, ModelMetadata, noise_input_name

MAGIC = b"FUSIONVAE-TENSORRT-ENGINE\n"
_LENGTH_BYTES = 8
CACHE_DIR_ENV = "FUSIONVAE_TENSORRT_CACHE"

Shape = tuple[int, ...]
#: Input name -> (min, opt, max) shapes of one TensorRT optimisation profile.
Profile = dict[str, tuple[Shape, Shape, Shape]]


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; an engine is reused only when all fields match."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    fp16: bool
    profile: Profile

    def to_dict(self) -> dict[str, Any]:
        """JSON form (shapes as lists), the form stored in engine headers and compared on lookup."""
        return {
            "onnx_sha256": self.onnx_sha256,
            "tensorrt_version": self.tensorrt_version,
            "gpu_name": self.gpu_name,
            "fp16": self.fp16,
            "profile": {name: [list(shape) for shape in shapes] for name, shapes in sorted(self.profile.items())},
        }


@dataclass(frozen=True)
class EngineFile:
    """A parsed engine file: the key it was built for, the model metadata and the serialized engine."""

    key: dict[str, Any]
    metadata_props: dict[str, str]
    engine: bytes

    def profile_max(self, name: str) -> Shape:
        """The largest shape the engine accepts for input `name`."""
        return tuple(self.key["profile"][name][2])


def optimisation_profile(metadata: ModelMetadata, max_batch: int, max_samples: int) -> Profile:
    """Profile over batch 1..max_batch, views 1..max_views and noise rows 1..max_batch·max_samples.

    The optimum is one view set with all views and `num_samples_hint` hypotheses (the node's common case).
    """
    if max_batch < 1 or max_samples < 1:
        raise BackendError(f"tensorrt backend: max_batch and max_samples must be >= 1, got {max_batch}, {max_samples}")
    image = (metadata.channels, metadata.image_size, metadata.image_size)
    max_rows = max_batch * max_samples
    profile: Profile = {
        VIEWS_INPUT: ((1, 1, *image), (1, metadata.max_views, *image), (max_batch, metadata.max_views, *image)),
        TEMPERATURE_INPUT: ((), (), ()),
    }
    optimum_rows = min(metadata.num_samples_hint, max_rows)
    for group, shape in enumerate(metadata.latent_shapes):
        profile[noise_input_name(group)] = ((1, *shape), (optimum_rows, *shape), (max_rows, *shape))
    return profile


def default_cache_dir() -> Path:
    """$FUSIONVAE_TENSORRT_CACHE, else ~/.cache/fusionvae_ros/tensorrt."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "fusionvae_ros" / "tensorrt"


def cache_path(cache_dir: Path, onnx_path: Path, fp16: bool) -> Path:
    """The cache file of an ONNX model at one precision (its key decides whether the content is still valid)."""
    return cache_dir / f"{onnx_path.stem}.{'fp16' if fp16 else 'fp32'}.plan"


def encode_engine_file(key: EngineKey, metadata: ModelMetadata, engine: bytes) -> bytes:
    """The bytes of an engine file (see the module docstring for the layout)."""
    header = json.dumps({"key": key.to_dict(), "metadata": metadata.to_props()}, sort_keys=True).encode()
    return MAGIC + len(header).to_bytes(_LENGTH_BYTES, "little") + header + engine


def write_engine_file(path: Path, key: EngineKey, metadata: ModelMetadata, engine: bytes) -> None:
    """Write an engine file atomically."""
    write_atomically(path, encode_engine_file(key, metadata, engine))


def read_engine_file(path: Path) -> EngineFile:
    """Parse an engine file; BackendError naming the file if it is not one of ours or is truncated."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise BackendError(f"engine file {path}: not a fusionvae_ros TensorRT engine (no {MAGIC.strip()!r} header)")
    offset = len(MAGIC) + _LENGTH_BYTES
    length = int.from_bytes(data[len(MAGIC) : offset], "little")
    if len(data) <= offset + length:
        raise BackendError(f"engine file {path}: truncated ({len(data)} bytes)")
    try:
        header = json.loads(data[offset : offset + length])
        return EngineFile(dict(header["key"]), dict(header["metadata"]), data[offset + length :])
    except (ValueError, KeyError, TypeError) as error:
        raise BackendError(f"engine file {path}: corrupt header: {error}") from None


def load_cached_engine(path: Path, key: EngineKey) -> EngineFile | None:
    """The cached engine at `path` if it exists, parses and was built for exactly `key`; None means rebuild."""
    if not path.is_file():
        return None
    try:
        cached = read_engine_file(path)
    except BackendError:
        return None
    return cached if cached.key == key.to_dict() else None


def cached_or_built_engine(
    cache_file: Path, key: EngineKey, metadata: ModelMetadata, build: Callable[[], bytes]
) -> bytes:
    """The engine cached at `cache_file` if it was built for exactly `key`, else `build()`'s, cached atomically."""
    cached = load_cached_engine(cache_file, key)
    if cached is not None:
        return cached.engine
    engine = build()
    write_engine_file(cache_file, key, metadata, engine)
    return engine


def key_mismatch(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable differences between a stored and the current engine key (for error messages)."""
    return [
        f"{field}: engine has {stored.get(field)!r}, this machine {current[field]!r}"
        for field in ("tensorrt_version", "gpu_name")
        if stored.get(field) != current[field]
    ]
