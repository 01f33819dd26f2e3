"""Helpers shared by the training and evaluation tests (this module holds no tests).

They run real training steps of the `tiny` config (training/configs/tiny.yaml), shrunk to a few steps and minimal
validation work, either through training/train.py in a subprocess or through its `main` in this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from fusionvae_core.checkpoint import load_checkpoint
from fusionvae_core.training import CHECKPOINT_FILE, model_from_checkpoint

REPO = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = REPO / "training" / "train.py"
TINY_CONFIG = REPO / "training" / "configs" / "tiny.yaml"


def quick_overrides(steps: int, batch_size: int = 8, **extra: object) -> list[str]:
    """`--set` values shrinking the tiny config to `steps` steps: 4 validation items, one eval at the end.

    `extra` adds overrides with "__" standing for "." in the key (e.g. model__kind="fcn").
    """
    values: dict[str, object] = {
        "budget.max_steps": steps,
        "budget.batch_size": batch_size,
        "data.eval_items": 4,
        "run.eval_batches": 1,
        "run.eval_interval": 1000,
        "run.ckpt_interval": 1000,
        "run.grid_examples": 1,
        "run.log_interval": 1,
    }
    values.update({key.replace("__", "."): value for key, value in extra.items()})
    return [f"{key}={value}" for key, value in values.items()]


def train_arguments(run_dir: Path, overrides: list[str], *extra: str) -> list[str]:
    """train.py arguments for a new tiny run in `run_dir` with `overrides` (`extra` appended)."""
    sets = [part for item in overrides for part in ("--set", item)]
    return ["--config", str(TINY_CONFIG), "--run-dir", str(run_dir), *sets, *extra]


def subprocess_env() -> dict[str, str]:
    """Environment of child processes: as many intra-op threads as this process uses, so runs done here and in a
    child compute bit-identical numbers."""
    return {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "PYTHONPATH": str(REPO)}


def run_train(*arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run training/train.py in a subprocess, capturing its output."""
    return subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=subprocess_env(),
        check=False,
    )


def checkpoint_of(run_dir: Path) -> dict:
    """The loaded last checkpoint of a run folder."""
    return load_checkpoint(run_dir / CHECKPOINT_FILE)


def trained_parameters(payload: dict) -> dict[str, torch.Tensor]:
    """The trainable parameters (no buffers) of the network stored in a loaded checkpoint."""
    model = model_from_checkpoint(payload, "test")
    return {name: value.detach().clone() for name, value in model.named_parameters()}
