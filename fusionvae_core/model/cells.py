"""NVAE-style residual cells: the encoder cell (two 3x3 convs) and the decoder cell (inverted depthwise block).

Both end in squeeze-and-excitation and return ``skip(x) + residual_scale * branch(x)``; the variants that change
resolution (stride-2 encoder cell, nearest-upsampling decoder cell) use a 1x1 conv skip of matching shape.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

BN_MOMENTUM = 0.05


class SqueezeExcitation(nn.Module):
    """Channel gating from globally pooled features (Hu et al.), reduction 16 with at least 4 hidden units.

    The hidden activation is Swish instead of the original ReLU: with only 4 hidden units and strongly correlated
    pooled inputs, ReLU gates went completely dead on whole batches and their weights stopped learning.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(channels // 16, 4)
        self.squeeze = nn.Linear(channels, hidden)
        self.excite = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel of x by a gate in (0, 1) computed from its spatial mean."""
        gate = torch.sigmoid(self.excite(F.silu(self.squeeze(x.mean(dim=(2, 3))))))
        return x * gate[:, :, None, None]


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    """BatchNorm with NVAE's slow running-statistics momentum."""
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


class EncoderCell(nn.Module):
    """BN → Swish → conv3x3 → BN → Swish → conv3x3 → SE with residual; stride 2 halves the resolution."""

    def __init__(
        self, in_channels: int, out_channels: int, *, stride: int = 1, use_se: bool = True, scale: float = 0.1
    ):
        super().__init__()
        layers: list[nn.Module] = [
            _batch_norm(in_channels),
            nn.SiLU(),
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
            _batch_norm(out_channels),
            nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        ]
        if use_se:
            layers.append(SqueezeExcitation(out_channels))
        self.branch = nn.Sequential(*layers)
        self.skip: nn.Module = (
            nn.Identity()
            if stride == 1 and in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, 1, stride=stride)
        )
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual update of x (downsampled when the cell has stride 2)."""
        return self.skip(x) + self.scale * self.branch(x)


class DecoderCell(nn.Module):
    """BN → conv1x1 (×expansion) → BN → Swish → depthwise conv5x5 → BN → Swish → conv1x1 → BN → SE, residual.

    With ``upsample=True`` the input is first nearest-upsampled ×2, and a 1x1 conv skip adapts the channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        upsample: bool = False,
        expansion: int = 6,
        use_se: bool = True,
        scale: float = 0.1,
    ):
        super().__init__()
        hidden = in_channels * expansion
        layers: list[nn.Module] = [
            _batch_norm(in_channels),
            nn.Conv2d(in_channels, hidden, 1),
            _batch_norm(hidden),
            nn.SiLU(),
            nn.Conv2d(hidden, hidden, 5, padding=2, groups=hidden),
            _batch_norm(hidden),
            nn.SiLU(),
            nn.Conv2d(hidden, out_channels, 1),
            _batch_norm(out_channels),
        ]
        if use_se:
            layers.append(SqueezeExcitation(out_channels))
        self.branch = nn.Sequential(*layers)
        self.skip: nn.Module = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)
        self.upsample = upsample
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual update of x (at twice the resolution when the cell upsamples)."""
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.skip(x) + self.scale * self.branch(x)
