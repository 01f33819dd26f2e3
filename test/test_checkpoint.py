"""Checkpoint files: round trip, atomic replacement, and one clear CheckpointError for every kind of bad file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from fusionvae_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _save(path: Path, value: float = 1.0) -> Path:
    return save_checkpoint(
        path, model_kind="fusionvae", model_config={"preset": "tiny"}, state_dict={"w": torch.full((3,), value)}
    )


class _Unpicklable:
    def __reduce__(self) -> tuple:
        raise RuntimeError("cannot serialise this")


def test_round_trip_keeps_weights_config_and_state(tmp_path: Path) -> None:
    path = save_checkpoint(
        tmp_path / "ck.pt",
        model_kind="fusionvae",
        model_config={"preset": "tiny", "sizes": [1, 2]},
        state_dict={"w": torch.arange(4.0)},
        train_state={"step": 7},
        meta={"status": "finished"},
    )
    payload = load_checkpoint(path)
    assert payload["model_config"] == {"preset": "tiny", "sizes": [1, 2]}
    assert torch.equal(payload["state_dict"]["w"], torch.arange(4.0))
    assert payload["train_state"] == {"step": 7} and payload["meta"] == {"status": "finished"}


def test_a_failed_write_leaves_the_previous_checkpoint_and_no_temp_file(tmp_path: Path) -> None:
    path = _save(tmp_path / "ck.pt", value=1.0)
    with pytest.raises(RuntimeError, match="cannot serialise"):
        save_checkpoint(path, model_kind="fusionvae", model_config={}, state_dict={}, meta={"bad": _Unpicklable()})
    assert torch.equal(load_checkpoint(path)["state_dict"]["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]


def test_written_files_follow_the_umask_not_mkstemps_0600(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        path = _save(tmp_path / "ck.pt")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (None, "file not found"),
        (lambda p: p.write_bytes(b""), "file is empty"),
        (lambda p: p.write_bytes(os.urandom(4096)), "truncated, corrupt or another format"),
        (lambda p: torch.save({"state_dict": {}}, p), "missing format tag"),
        (lambda p: p.write_bytes(pickle.dumps(object)), "truncated, corrupt or another format"),  # refuses globals
        (lambda p: p.write_bytes(b"PK\x03\x04broken zip"), "truncated, corrupt or another format"),
    ],
    ids=["missing", "empty", "random-bytes", "foreign-torch-file", "pickled-object", "broken-zip"],
)
def test_bad_files_raise_one_line_checkpoint_errors(tmp_path: Path, write, message: str) -> None:
    path = tmp_path / "ck.pt"
    if write is not None:
        write(path)
    with pytest.raises(CheckpointError, match=message) as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert "weights_only" not in str(error.value), "never invite the unsafe weights_only=False retry"


def test_an_onnx_file_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x09onnx protobuf")
    with pytest.raises(CheckpointError, match="is an exported ONNX model; this needs the training checkpoint") as error:
        load_checkpoint(path)
    assert "weights_only" not in str(error.value)


def test_truncated_checkpoint_is_rejected(tmp_path: Path) -> None:
    path = _save(tmp_path / "ck.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt or another format"):
        load_checkpoint(path)
