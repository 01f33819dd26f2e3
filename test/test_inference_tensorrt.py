"""TensorRT: the engine file/cache logic (pure Python, always tested) and the real backend (where TensorRT runs)."""

from __future__ import annotations

import dataclasses
import importlib
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import exported_model, window_views

from fusionvae_core.inference import BackendError, load_backend
from fusionvae_core.inference.engine_cache import (
    MAGIC,
    EngineKey,
    cache_path,
    cached_or_built_engine,
    load_cached_engine,
    optimisation_profile,
    read_engine_file,
    write_engine_file,
)
from fusionvae_core.inference.metadata import ModelMetadata

METADATA = ModelMetadata(
    preset="tiny",
    image_size=16,
    channels=1,
    likelihood="bernoulli",
    max_views=3,
    latent_shapes=((4, 4, 4), (4, 4, 4), (4, 8, 8)),
    source_checkpoint_sha256="ab" * 32,
    num_samples_hint=3,
    model_config={"name": "tiny"},
)


def _key(**changes: object) -> EngineKey:
    key = EngineKey("12" * 32, "10.9.0", "NVIDIA H100", False, optimisation_profile(METADATA, 4, 8))
    return dataclasses.replace(key, **changes)


def test_profile_spans_batch_views_and_noise_rows() -> None:
    profile = optimisation_profile(METADATA, max_batch=4, max_samples=8)
    assert profile["views"] == ((1, 1, 1, 16, 16), (1, 3, 1, 16, 16), (4, 3, 1, 16, 16))
    assert profile["temperature"] == ((), (), ())
    assert profile["noise_2"] == ((1, 4, 8, 8), (3, 4, 8, 8), (32, 4, 8, 8))
    assert set(profile) == {"views", "temperature", "noise_0", "noise_1", "noise_2"}
    with pytest.raises(BackendError, match="max_batch and max_samples must be >= 1"):
        optimisation_profile(METADATA, max_batch=0, max_samples=1)


def test_engine_file_round_trip_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "model.fp32.plan"
    write_engine_file(path, _key(), METADATA, b"serialized-engine")
    engine_file = read_engine_file(path)
    assert engine_file.engine == b"serialized-engine"
    assert ModelMetadata.from_props(engine_file.metadata_props, str(path)) == METADATA
    assert engine_file.profile_max("noise_0") == (32, 4, 4, 4)
    assert [p.name for p in path.parent.iterdir()] == [path.name], "temporary files left behind"


def test_cache_is_reused_only_for_the_same_key(tmp_path: Path) -> None:
    path = cache_path(tmp_path, Path("models/model.onnx"), fp16=False)
    assert path == tmp_path / "model.fp32.plan"
    assert cache_path(tmp_path, Path("model.onnx"), fp16=True).name == "model.fp16.plan"
    assert load_cached_engine(path, _key()) is None  # nothing cached yet
    write_engine_file(path, _key(), METADATA, b"engine")
    cached = load_cached_engine(path, _key())
    assert cached is not None and cached.engine == b"engine"
    for change in (
        {"onnx_sha256": "34" * 32},
        {"tensorrt_version": "10.10.0"},
        {"gpu_name": "NVIDIA A100"},
        {"fp16": True},
        {"profile": optimisation_profile(METADATA, 8, 8)},
    ):
        assert load_cached_engine(path, _key(**change)) is None, f"stale engine reused despite {change}"


def test_foreign_or_truncated_engine_files(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.plan"
    foreign.write_bytes(b"not an engine")
    with pytest.raises(BackendError, match=rf"engine file {foreign}: not a fusionvae_ros TensorRT engine"):
        read_engine_file(foreign)
    assert load_cached_engine(foreign, _key()) is None  # a broken cache entry is rebuilt, not fatal
    truncated = tmp_path / "truncated.plan"
    write_engine_file(truncated, _key(), METADATA, b"engine")
    truncated.write_bytes(truncated.read_bytes()[: len(MAGIC) + 20])
    with pytest.raises(BackendError, match=rf"engine file {truncated}: truncated"):
        read_engine_file(truncated)


class CountingBuilder:
    """Stands in for TensorRT's engine builder ONLY because TensorRT cannot be installed here (DESIGN.md §5).

    The real builder is exercised by the @requires_tensorrt tests below wherever `import tensorrt` works.
    """

    def __init__(self) -> None:
        self.builds = 0

    def __call__(self) -> bytes:
        self.builds += 1
        return f"engine-{self.builds}".encode()


def test_engine_is_built_once_and_rebuilt_when_the_key_changes(tmp_path: Path) -> None:
    """Cache key = ONNX hash + TensorRT version + GPU name (+ precision, profile); a changed key rebuilds.

    The builder is a stand-in (CountingBuilder) only because TensorRT cannot be installed in this environment.
    """
    build = CountingBuilder()
    path = cache_path(tmp_path, Path("model.onnx"), fp16=False)
    assert cached_or_built_engine(path, _key(), METADATA, build) == b"engine-1"
    assert cached_or_built_engine(path, _key(), METADATA, build) == b"engine-1", "a matching engine is reused"
    assert build.builds == 1
    changes = ({"onnx_sha256": "34" * 32}, {"tensorrt_version": "10.10.0"}, {"gpu_name": "NVIDIA A100"})
    for builds, change in enumerate(changes, start=2):
        assert cached_or_built_engine(path, _key(**change), METADATA, build) == f"engine-{builds}".encode()
        assert read_engine_file(path).key == _key(**change).to_dict(), "the rebuilt engine replaces the cache entry"
    path.write_bytes(b"half an engine")  # a damaged cache entry is rebuilt, not fatal
    assert cached_or_built_engine(path, _key(), METADATA, build) == b"engine-5"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask(), "cache files get the usual permissions"
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "temporary files left behind"


def test_failed_build_or_interrupted_write_keeps_the_previous_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build error or a crash before the rename leaves the old engine readable and no temporary file.

    The builder is a stand-in only because TensorRT cannot be installed in this environment; the crash between
    writing and renaming is simulated by making os.replace fail.
    """
    path = tmp_path / "model.fp32.plan"
    write_engine_file(path, _key(), METADATA, b"old engine")

    def failing_build() -> bytes:
        raise BackendError("model file model.onnx: TensorRT failed to build an engine")

    with pytest.raises(BackendError, match="failed to build"):
        cached_or_built_engine(path, _key(gpu_name="NVIDIA A100"), METADATA, failing_build)

    def crash_before_rename(source: str, target: str) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash_before_rename)
        with pytest.raises(OSError, match="disk full"):
            cached_or_built_engine(path, _key(gpu_name="NVIDIA A100"), METADATA, CountingBuilder())
    assert read_engine_file(path).engine == b"old engine"
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "temporary files left behind"


def _umask() -> int:
    """The process umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _tensorrt_skip_reason() -> str | None:
    """Why the real TensorRT tests cannot run here, or None when they can."""
    try:
        importlib.import_module("tensorrt")
    except ImportError as error:
        return f"TensorRT tests need `import tensorrt` (TensorRT 10) to work: {error}"
    import torch

    return None if torch.cuda.is_available() else "TensorRT tests need a CUDA GPU visible to torch"


_SKIP_REASON = _tensorrt_skip_reason()
requires_tensorrt = pytest.mark.skipif(_SKIP_REASON is not None, reason=str(_SKIP_REASON))


@requires_tensorrt
def test_tensorrt_matches_onnxruntime_and_caches_its_engine(tmp_path: Path) -> None:
    onnx_path = exported_model("tiny").onnx
    reference = load_backend(onnx_path, backend="onnxruntime")
    backend = load_backend(onnx_path, backend="tensorrt", device="cuda", cache_dir=tmp_path, max_batch=4)
    (cache_file,) = tmp_path.iterdir()
    for count in (1, 2, 3):
        views = window_views(2, count, 16, 1, seed=count)
        expected = reference.infer(views, num_samples=3, seed=1).probabilities
        actual = backend.infer(views, num_samples=3, seed=1).probabilities
        assert np.abs(actual - expected).max() <= 1e-3
    built = cache_file.stat().st_mtime_ns
    load_backend(onnx_path, backend="tensorrt", device="cuda", cache_dir=tmp_path, max_batch=4)
    assert cache_file.stat().st_mtime_ns == built, "a matching cached engine must be reused, not rebuilt"
    with pytest.raises(BackendError, match="exceeds the engine's profile"):
        backend.infer(window_views(5, 1, 16, 1, seed=0), num_samples=1)


@requires_tensorrt
def test_tensorrt_engine_file_from_the_exporter(tmp_path: Path) -> None:
    from fusionvae_core.inference.tensorrt import build_engine_file

    onnx_path = exported_model("tiny").onnx
    engine_path = tmp_path / "tiny.plan"
    build_engine_file(onnx_path, engine_path, fp16=True)
    backend = load_backend(engine_path, backend="tensorrt", device="cuda")
    result = backend.infer(window_views(1, 3, 16, 1, seed=0), num_samples=3, seed=0)
    expected = load_backend(onnx_path).infer(window_views(1, 3, 16, 1, seed=0), num_samples=3, seed=0)
    assert np.abs(result.probabilities - expected.probabilities).max() <= 2e-2  # fp16 kernels
