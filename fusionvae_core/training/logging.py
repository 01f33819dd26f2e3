"""Rank-0 outputs of a training run: tqdm progress bar, TensorBoard event files and a JSONL metrics file.

`metrics.jsonl` holds one line per step with the deterministic quantities (loss, KL, learning rate, skip reason),
which makes runs comparable line by line; timing goes to the progress bar and TensorBoard only. On resume the
lines of steps that are redone are dropped, so the file always describes one consistent trajectory.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


class RunLogger:
    """Writes progress, scalars, images and per-step metrics; every method is a no-op when not `enabled`."""

    def __init__(self, run_dir: Path, *, total_steps: int, start_step: int, log_interval: int, enabled: bool) -> None:
        self.enabled = enabled
        self.log_interval = log_interval
        self.total_steps = total_steps
        self._last_time = time.perf_counter()
        self._images_since = 0
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = run_dir / METRICS_FILE
        _truncate_metrics(self.metrics_path, start_step)
        self.metrics_file = self.metrics_path.open("a", encoding="utf-8")
        self.writer = SummaryWriter(log_dir=str(run_dir / TENSORBOARD_DIR), purge_step=start_step or None)
        self.bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True, disable=None)
        self.interactive = not self.bar.disable

    def step(self, step: int, metrics: dict[str, Any], kl_per_group: list[float], batch_images: int) -> None:
        """Record finished step `step` (0-based): JSONL line, progress bar, TensorBoard every `log_interval`."""
        if not self.enabled:
            return
        self.metrics_file.write(json.dumps({"step": step, **metrics}) + "\n")
        self._images_since += batch_images
        self.bar.update(1)
        if (step + 1) % self.log_interval and step + 1 != self.total_steps:
            return
        self.metrics_file.flush()
        now = time.perf_counter()
        images_per_second = self._images_since / max(now - self._last_time, 1e-9)
        self._last_time, self._images_since = now, 0
        shown = {key: f"{metrics[key]:.4g}" for key in ("loss", "kl") if key in metrics}
        self.bar.set_postfix(**shown, img_s=f"{images_per_second:.0f}")
        for key, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.writer.add_scalar(f"train/{key}", value, step)
        self.writer.add_scalar("train/images_per_second", images_per_second, step)
        for group, value in enumerate(kl_per_group):
            self.writer.add_scalar(f"kl_per_group/group_{group:02d}", value, step)

    def evaluation(self, step: int, metrics: dict[str, float], grid: np.ndarray | None) -> None:
        """Record validation scalars and a sample grid (uint8 [H, W, C]) at `step`."""
        if not self.enabled:
            return
        for key, value in metrics.items():
            self.writer.add_scalar(f"val/{key}", value, step)
        if grid is not None:
            self.writer.add_image("val/samples", grid, step, dataformats="HWC")
        self.writer.flush()
        summary = ", ".join(f"{key} {value:.4g}" for key, value in metrics.items())
        self.message(f"step {step}: validation {summary}")

    def message(self, text: str) -> None:
        """Print a line without breaking the progress bar (rank 0 only)."""
        if self.enabled:
            self.bar.write(text, file=sys.stderr)

    def close(self) -> None:
        """Flush and close files, writer and progress bar."""
        if not self.enabled:
            return
        self.metrics_file.close()
        self.writer.close()
        self.bar.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All per-step records of a run's metrics file."""
    path = run_dir / METRICS_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _truncate_metrics(path: Path, start_step: int) -> None:
    """Keep only the records of steps before `start_step` (the ones a resumed run does not redo)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a killed process
            continue
        if record["step"] < start_step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
