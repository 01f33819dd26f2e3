"""Device strings of the backends: "cpu", "cuda" or "cuda:N"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fusionvae_core.inference.errors import BackendError

_DEVICE = re.compile(r"^(cpu|cuda)(?::(\d+))?$")


@dataclass(frozen=True)
class Device:
    """A parsed device: kind "cpu" or "cuda" and the CUDA device index (0 for "cuda")."""

    kind: str
    index: int = 0

    @property
    def is_cuda(self) -> bool:
        """True for a CUDA GPU."""
        return self.kind == "cuda"


def parse_device(device: str) -> Device:
    """Parse "cpu", "cuda" or "cuda:N"; raise BackendError for anything else."""
    match = _DEVICE.match(device.strip().lower()) if isinstance(device, str) else None
    if match is None or (match.group(1) == "cpu" and match.group(2) is not None):
        raise BackendError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return Device(match.group(1), int(match.group(2) or 0))
