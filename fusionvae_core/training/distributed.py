"""Multi-process training with PyTorch DDP under torchrun: process group, device choice and small collectives.

Single-process runs use the same functions; with a world size of 1 they reduce to no-ops.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


class DeviceError(RuntimeError):
    """The requested device cannot be used (e.g. --device cuda without a GPU)."""


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the job: rank, world size, local rank and torch device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints and logs (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether several processes train together."""
        return self.world_size > 1


def setup(device_request: str | None) -> DistributedContext:
    """Read torchrun's environment, pick the device ("cpu", "cuda" or None = CUDA if present) and join the group.

    The backend is NCCL on CUDA and Gloo on CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_request not in (None, "cpu", "cuda"):
        raise DeviceError(f"--device must be 'cpu' or 'cuda', got {device_request!r}")
    use_cuda = torch.cuda.is_available() if device_request is None else device_request == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise DeviceError("--device cuda was requested but torch sees no CUDA device")
    if use_cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistributedContext(rank, world_size, local_rank, device)


def teardown(context: DistributedContext) -> None:
    """Leave the process group (if any)."""
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, context: DistributedContext) -> nn.Module:
    """DDP-wrap `module` in a multi-process job; unused parameters are expected (e.g. view heads when K = 0)."""
    if not context.distributed:
        return module
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=True)


def any_across_ranks(flags: list[bool], context: DistributedContext) -> list[bool]:
    """Element-wise OR of boolean flags over all ranks (so every rank takes the same decision)."""
    if not context.distributed:
        return flags
    tensor = torch.tensor([float(f) for f in flags], device=context.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(v) for v in tensor.tolist()]


def gather_objects(value: Any, context: DistributedContext) -> list[Any]:
    """Every rank's `value`, in rank order (a one-element list in a single process)."""
    if not context.distributed:
        return [value]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_buffers(module: nn.Module, context: DistributedContext) -> None:
    """Copy rank 0's buffers (BatchNorm statistics, spectral vectors) to all ranks."""
    if context.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over the names and raw bytes of a state dict: equal digests mean bit-identical weights.

    Checkpoints store every rank's digest, which shows that DDP kept the replicas identical.
    """
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def barrier(context: DistributedContext) -> None:
    """Wait for all ranks."""
    if context.distributed:
        dist.barrier()
