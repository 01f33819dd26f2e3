"""training/export.py end to end on a real training/train.py checkpoint: validated ONNX with metadata; clean failures.

Slow (~20 s of CPU for two steps of training plus ~25 s for the dynamo ONNX export of the tiny preset).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.checkpoint import file_sha256, load_checkpoint, save_checkpoint
from fusionvae_core.inference import load_backend
from fusionvae_core.training import CHECKPOINT_FILE
from training.export import main

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def run_script(script: str, *args: object) -> subprocess.CompletedProcess[str]:
    """Run one of the training/ command-line scripts in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, str(REPO / "training" / script), *map(str, args)],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """checkpoints/last.pt of two real training steps of training/configs/tiny.yaml (32x32 digits)."""
    run_dir = tmp_path_factory.mktemp("train") / "run"
    completed = run_script(
        "train.py",
        "--config",
        REPO / "training" / "configs" / "tiny.yaml",
        "--run-dir",
        run_dir,
        "--device",
        "cpu",
        "--set",
        "budget.max_steps=2",
        "--set",
        "run.eval_interval=2",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return run_dir / CHECKPOINT_FILE


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny FusionVAE in the checkpoint format, for the failure cases (no training needed)."""
    cfg = ModelConfig.preset("tiny")
    return save_checkpoint(
        tmp_path_factory.mktemp("random") / "tiny.pt",
        model_kind="fusionvae",
        model_config=cfg.to_dict(),
        state_dict=FusionVAE(cfg).state_dict(),
    )


@pytest.mark.slow
def test_export_of_a_trained_checkpoint(trained_checkpoint: Path, tmp_path: Path) -> None:
    onnx_path = tmp_path / "out" / "tiny.onnx"
    onnx_path.parent.mkdir()  # export.py writes into existing folders only (a typo must not create a tree)
    completed = run_script(
        "export.py", "--checkpoint", trained_checkpoint, "--onnx", onnx_path, "--num-samples-hint", 2
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"exported {onnx_path}" in completed.stdout and "max |ONNX Runtime - torch|" in completed.stdout
    props = {prop.key: prop.value for prop in onnx.load(str(onnx_path)).metadata_props}
    assert props["source_checkpoint_sha256"] == file_sha256(trained_checkpoint)
    config = load_checkpoint(trained_checkpoint)["model_config"]
    assert (
        (props["preset"], props["image_size"], props["channels"])
        == ("tiny", "32", "1")
        == (
            config["name"],
            str(config["image_size"]),
            str(config["channels"]),
        )
    )
    assert props["likelihood"] == config["likelihood"] and props["num_samples_hint"] == "2"
    assert not [p for p in onnx_path.parent.iterdir() if p.name != onnx_path.name], "temporary files left behind"
    # the exported file and the checkpoint serve the same hypotheses for the same seed
    views = np.random.default_rng(0).integers(0, 256, (2, 3, 32, 32, 1), dtype=np.uint8)
    from_onnx = load_backend(onnx_path).infer(views, num_samples=2, seed=4).probabilities
    from_checkpoint = load_backend(trained_checkpoint, backend="torch").infer(views, num_samples=2, seed=4)
    assert np.abs(from_onnx - from_checkpoint.probabilities).max() <= 1e-4


def _expect_one_line_error(
    arguments: list[str], capsys: pytest.CaptureFixture[str], *fragments: str, status: int = 2
) -> None:
    """main(arguments) fails with ``status`` (2: usage error, 1: export failed) and one stderr line holding every
    fragment."""
    assert main(arguments) == status
    message = capsys.readouterr().err.strip()
    assert "\n" not in message and message.startswith("export.py: error: "), message
    for fragment in fragments:
        assert fragment in message, message


def test_bad_checkpoints_fail_with_one_line(
    random_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out.onnx")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(random_checkpoint.read_bytes()[:1000])
    _expect_one_line_error(["--checkpoint", str(truncated), "--onnx", out], capsys, f"checkpoint {truncated}:")
    _expect_one_line_error(
        ["--checkpoint", str(tmp_path / "absent.pt"), "--onnx", out], capsys, "absent.pt: file not found"
    )
    payload = load_checkpoint(random_checkpoint)
    baseline = save_checkpoint(
        tmp_path / "fcn.pt", model_kind="fcn", model_config={"name": "fcn"}, state_dict=payload["state_dict"]
    )
    _expect_one_line_error(["--checkpoint", str(baseline), "--onnx", out], capsys, "holds a 'fcn' model")
    mismatched = save_checkpoint(
        tmp_path / "mismatch.pt",
        model_kind="fusionvae",
        model_config={**payload["model_config"], "latent_channels": payload["model_config"]["latent_channels"] + 1},
        state_dict=payload["state_dict"],
    )
    _expect_one_line_error(
        ["--checkpoint", str(mismatched), "--onnx", out], capsys, f"{mismatched}: its weights do not fit"
    )
    assert not (tmp_path / "out.onnx").exists()


def test_unwritable_outputs_fail_before_exporting(
    random_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    _expect_one_line_error(["--checkpoint", str(random_checkpoint), "--onnx", str(folder)], capsys, "is a folder")
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    inside_a_file = tmp_path / "notes.txt" / "model.onnx"
    _expect_one_line_error(
        ["--checkpoint", str(random_checkpoint), "--onnx", str(inside_a_file)], capsys, "notes.txt is not a folder"
    )


@pytest.mark.parametrize(
    ("extra", "problem"),
    [(["--fp16"], "--fp16 applies to the TensorRT engine"), (["--onnx", "model.plan"], "must name a .onnx file")],
)
def test_contradictory_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], problem: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--checkpoint", str(tmp_path / "absent.pt"), "--onnx", str(tmp_path / "out.onnx"), *extra])
    assert exit_info.value.code == 2 and problem in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_engine_without_tensorrt_fails_before_exporting(
    random_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--checkpoint", str(random_checkpoint), "--onnx", str(tmp_path / "m.onnx")]
    _expect_one_line_error(
        [*arguments, "--engine", str(tmp_path / "e.plan")],
        capsys,
        "TensorRT backend needs the `tensorrt` Python",
        status=1,
    )
    assert not (tmp_path / "m.onnx").exists()
