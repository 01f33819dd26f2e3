"""train.py: Ctrl-C checkpoints and exits 130, --resume continues bit-exactly, the NaN guard skips and counts,
and unusable checkpoints give a one-line error (exit 2) without touching any file. All with real tiny training."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_train_helpers import (
    TINY_CONFIG,
    TRAIN_SCRIPT,
    checkpoint_of,
    quick_overrides,
    subprocess_env,
    train_arguments,
    trained_parameters,
)

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.baselines import BASELINE_KINDS
from fusionvae_core.checkpoint import save_checkpoint
from fusionvae_core.training import CHECKPOINT_FILE, ConfigError, load_config
from fusionvae_core.training.distributed import state_digest
from fusionvae_core.training.logging import METRICS_FILE, read_metrics
from training.train import CONFIG_COPY, main

pytestmark = pytest.mark.slow

STEPS = 12
CONFIG_DIR = TINY_CONFIG.parent


def _start(arguments: list[str]) -> subprocess.Popen[str]:
    """train.py in a background subprocess."""
    command = [sys.executable, str(TRAIN_SCRIPT), *arguments]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())


def _wait_for_steps(run_dir: Path, process: subprocess.Popen[str], count: int, timeout: float = 240) -> None:
    """Block until the run has logged `count` steps (it must still be running then)."""
    deadline = time.monotonic() + timeout
    metrics = run_dir / METRICS_FILE
    while time.monotonic() < deadline:
        assert process.poll() is None, f"run ended before step {count}: {process.communicate()}"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {count} steps within {timeout} s")


def test_ctrl_c_saves_a_checkpoint_exits_130_and_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    # The uninterrupted reference and the resumed part run in this process, the interrupted part in a child with
    # the same thread count (subprocess_env), so all numbers must agree bit for bit.
    overrides = quick_overrides(STEPS)
    interrupted_dir = tmp_path / "interrupted"
    interrupted = _start(train_arguments(interrupted_dir, overrides))
    _wait_for_steps(interrupted_dir, interrupted, 3)
    interrupted.send_signal(signal.SIGINT)
    _, stderr = interrupted.communicate(timeout=240)
    assert interrupted.returncode == 130, stderr
    assert "SIGINT received" in stderr and "Traceback" not in stderr
    stopped = checkpoint_of(interrupted_dir)
    stopped_at = stopped["train_state"]["step"]
    assert stopped["meta"]["status"] == "interrupted" and 3 <= stopped_at < STEPS
    assert len(read_metrics(interrupted_dir)) == stopped_at

    assert main(["--run-dir", str(interrupted_dir), "--resume"]) == 0
    assert main(train_arguments(tmp_path / "reference", overrides)) == 0

    expected, actual = read_metrics(tmp_path / "reference"), read_metrics(interrupted_dir)
    assert [r["step"] for r in actual] == list(range(STEPS))
    assert actual == expected, "the resumed loss trajectory must equal the uninterrupted one exactly"
    final, reference_final = checkpoint_of(interrupted_dir), checkpoint_of(tmp_path / "reference")
    assert final["meta"]["status"] == "finished" and final["train_state"]["step"] == STEPS
    assert state_digest(final["state_dict"]) == state_digest(reference_final["state_dict"])


def test_nan_loss_is_skipped_counted_and_training_continues(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    overrides = quick_overrides(5, debug__nan_at_steps="[1,2]")
    assert main(train_arguments(run_dir, overrides, "--stop-at-step", "1")) == 0
    after_first_step = trained_parameters(checkpoint_of(run_dir))

    assert main(["--run-dir", str(run_dir), "--resume", "--stop-at-step", "3"]) == 0
    after_nan_steps = checkpoint_of(run_dir)
    assert after_nan_steps["train_state"]["skipped_steps"] == 2
    unchanged = trained_parameters(after_nan_steps)
    assert all(torch.equal(unchanged[name], value) for name, value in after_first_step.items()), (
        "a skipped step must not change the weights"
    )

    assert main(["--run-dir", str(run_dir), "--resume"]) == 0
    final = checkpoint_of(run_dir)
    assert final["meta"]["status"] == "finished" and final["train_state"]["step"] == 5
    assert final["train_state"]["skipped_steps"] == 2
    weights = trained_parameters(final)
    assert all(torch.isfinite(value).all() for value in weights.values())
    assert any(not torch.equal(weights[name], value) for name, value in after_first_step.items())
    records = read_metrics(run_dir)
    assert [r["skipped"] for r in records] == [None, "non-finite loss", "non-finite loss", None, None]
    assert [r["skipped_total"] for r in records] == [0, 1, 2, 2, 2]
    assert all(math.isfinite(r["loss"]) for r in records[3:])
    assert "update skipped (non-finite loss)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("overrides", "advice"),
    [
        ({"optim__skip_threshold": "1e-9"}, "optim.skip_threshold is below this model's normal gradient norm"),
        ({"debug__nan_at_steps": "[0,1,2,3]"}, "the model diverges: start a new run with a lower --set optim.lr"),
    ],
)
def test_a_run_whose_updates_are_all_skipped_stops_and_says_what_to_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: dict[str, str], advice: str
) -> None:
    run_dir = tmp_path / "run"
    assert main(train_arguments(run_dir, quick_overrides(20, optim__max_consecutive_skips=3, **overrides))) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("train.py: error: stopped at step 3: the last 3 updates were all skipped (last: ")
    assert advice in error
    stalled = checkpoint_of(run_dir)
    assert stalled["meta"]["status"] == "stalled" and stalled["train_state"]["step"] == 3
    assert [record["skipped"] is not None for record in read_metrics(run_dir)] == [True, True, True]


def _truncated(path: Path) -> None:
    """Half of a real checkpoint file."""
    _exported(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _foreign(path: Path) -> None:
    """A torch file that is not one of ours."""
    torch.save({"weights": torch.zeros(3)}, path)


def _exported(path: Path) -> None:
    """One of our checkpoints, but without training state (as training/export.py ships them)."""
    model = FusionVAE(ModelConfig.preset("tiny"))
    save_checkpoint(path, model_kind="fusionvae", model_config=model.config.to_dict(), state_dict=model.state_dict())


def _garbage(path: Path) -> None:
    """Bytes that are no torch file at all."""
    path.write_bytes(b"not a checkpoint\n" * 10)


@pytest.mark.parametrize(
    ("make_file", "message"),
    [
        (None, "file not found"),
        (_truncated, "cannot be read"),
        (_foreign, "not a fusionvae_ros checkpoint"),
        (_exported, "holds no training state"),
        (_garbage, "cannot be read"),
    ],
)
def test_resume_from_an_unusable_checkpoint_fails_in_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_file: object, message: str
) -> None:
    checkpoint = tmp_path / CHECKPOINT_FILE
    checkpoint.parent.mkdir(parents=True)
    if callable(make_file):
        make_file(checkpoint)
    before = checkpoint.read_bytes() if checkpoint.exists() else None
    assert main(["--run-dir", str(tmp_path), "--resume"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("train.py: error: checkpoint") and message in err
    assert (checkpoint.read_bytes() if checkpoint.exists() else None) == before
    created = {CHECKPOINT_FILE.parent} | ({CHECKPOINT_FILE} if before is not None else set())
    assert {path.relative_to(tmp_path) for path in tmp_path.rglob("*")} == created, "nothing else may be written"


def test_a_new_run_refuses_a_folder_that_holds_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = tmp_path / CHECKPOINT_FILE
    _exported(checkpoint)
    before = checkpoint.read_bytes()
    assert main(train_arguments(tmp_path, quick_overrides(2))) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "already exists" in err and "--resume" in err
    assert checkpoint.read_bytes() == before and not (tmp_path / CONFIG_COPY).exists()


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_config_is_valid(path: Path) -> None:
    config = load_config(path)
    assert config.name == path.stem
    kind = path.stem.removeprefix("fusion_mnist_")
    if kind in BASELINE_KINDS:
        assert config.model.kind == kind and config.model.preset == "fusion_mnist"


def test_exponent_numbers_without_a_dot_are_numbers(tmp_path: Path) -> None:
    # YAML 1.1 reads 1e-4 as a string; config files and --set treat it as the number every user means
    config_file = tmp_path / "lr.yaml"
    config_file.write_text(f"base: {CONFIG_DIR / 'tiny.yaml'}\noptim:\n  lr: 5e-3\n")
    config = load_config(config_file, ["optim.skip_threshold=1E+6"])
    assert (config.optim.lr, config.optim.skip_threshold) == (5e-3, 1e6)
    with pytest.raises(ConfigError, match=r"optim\.lr_min: must be > 0"):
        load_config(config_file, ["optim.lr_min=-1e-5"])
    with pytest.raises(ConfigError, match=r"optim\.lr: expected a number, got 'fast'"):
        load_config(config_file, ["optim.lr=fast"])


def test_a_bad_override_names_the_key_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(train_arguments(tmp_path, ["budget.max_stepz=3"])) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "budget.max_stepz" in err and "max_steps" in err
    assert not any(tmp_path.iterdir())
