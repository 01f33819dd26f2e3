"""A one-line description of the hardware and software a run used (stored in checkpoints and result headers)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else the platform's processor string)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_hardware(device: torch.device, world_size: int = 1) -> str:
    """E.g. "1× CPU (Intel Xeon …, 2 cores visible, 2 torch threads), torch 2.13.0" or the GPU name(s)."""
    if device.type == "cuda":
        what = f"{world_size}× {torch.cuda.get_device_name(device)}"
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        what = (
            f"{world_size}× CPU process ({cpu_model()}, {cores} cores visible, {torch.get_num_threads()} torch threads)"
        )
    return f"{what}, torch {torch.__version__}, Python {platform.python_version()}"
