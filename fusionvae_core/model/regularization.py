"""NVAE-style weight regularisation: spectral norm of every conv (power iteration) plus a BatchNorm-scale penalty.

Each Conv2d gets a persistent buffer ``spectral_u`` (left singular vector estimate, saved in checkpoints) that a
few power iterations per training step (NVAE runs 4) keep on the largest singular value as the weights move.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

BUFFER_NAME = "spectral_u"
POWER_ITERATIONS = 4  # per training step, as NVAE's default num_power_iter


def attach_power_iteration_buffers(model: nn.Module, warmup_iterations: int = 20) -> None:
    """Give every Conv2d of `model` a unit vector buffer and run a few power iterations on the initial weights."""
    for conv in _convolutions(model):
        u = F.normalize(torch.randn(conv.out_channels), dim=0)
        conv.register_buffer(BUFFER_NAME, u)
        for _ in range(warmup_iterations):
            _power_iteration(conv)


def spectral_penalty(model: nn.Module) -> torch.Tensor:
    """Σ over convs of the estimated largest singular value of the [out, in·k·k] weight matrix."""
    total = torch.zeros(())
    for conv in _convolutions(model):
        for _ in range(POWER_ITERATIONS):
            u, v = _power_iteration(conv)
        weight = conv.weight.flatten(1)
        total = total.to(weight) + torch.dot(u, weight @ v)
    return total


def batchnorm_penalty(model: nn.Module) -> torch.Tensor:
    """Σ over BatchNorm layers of max |γ| (NVAE's penalty on the BN scales)."""
    total = torch.zeros(())
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d) and module.weight is not None:
            total = total.to(module.weight) + module.weight.abs().max()
    return total


def _convolutions(model: nn.Module) -> list[nn.Conv2d]:
    """All Conv2d submodules in registration order."""
    return [module for module in model.modules() if isinstance(module, nn.Conv2d)]


@torch.no_grad()
def _power_iteration(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """One power-iteration step on the conv's weight matrix; updates the stored u and returns (u, v) copies."""
    weight = conv.weight.flatten(1)
    u = getattr(conv, BUFFER_NAME)
    v = F.normalize(weight.t() @ u, dim=0, eps=1e-12)
    u_next = F.normalize(weight @ v, dim=0, eps=1e-12)
    u.copy_(u_next)
    return u_next.clone(), v
