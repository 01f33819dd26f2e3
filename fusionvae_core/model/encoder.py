"""Shared bottom-up encoder: stem, preprocessing blocks and the per-group feature tower.

Views and target are folded into one batch and pass through the same cells (paper fig. 2, shared parameters);
the tower returns one feature map per latent group, ordered coarse -> fine like the top-down pass. As in NVAE,
the finest scale comes first bottom-up (with the most groups), and the top features pass `enc0`
(ELU → conv1x1 → ELU) before they feed the first group's heads.
"""

from __future__ import annotations

import torch
from torch import nn

from fusionvae_core.config import ModelConfig
from fusionvae_core.model.cells import EncoderCell


class Encoder(nn.Module):
    """Bottom-up residual tower producing the features f_l of every latent group for a batch of images."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        channels = cfg.base_channels
        self.stem = nn.Conv2d(cfg.channels, channels, 3, padding=1, bias=False)  # BN follows
        blocks: list[nn.Module] = []
        for _ in range(cfg.num_preprocess_blocks):
            blocks.append(self._cell(cfg, channels, 2 * channels, stride=2))
            channels *= 2
            blocks.extend(self._cell(cfg, channels, channels) for _ in range(cfg.num_preprocess_cells - 1))
        self.preprocess = nn.Sequential(*blocks)
        # Bottom-up order: finest scale first; within a scale the groups run in reverse top-down order.
        self.group_cells = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for scale in reversed(range(cfg.num_scales)):
            for _ in range(cfg.groups_at_scale(scale)):
                self.group_cells.append(
                    nn.Sequential(*(self._cell(cfg, channels, channels) for _ in range(cfg.cells_per_group)))
                )
            if scale > 0:
                self.downsample.append(self._cell(cfg, channels, 2 * channels, stride=2))
                channels *= 2
        self.enc0 = nn.Sequential(nn.ELU(), nn.Conv2d(channels, channels, 1), nn.ELU())
        self.groups_at_scale = [cfg.groups_at_scale(scale) for scale in range(cfg.num_scales)]

    @staticmethod
    def _cell(cfg: ModelConfig, in_channels: int, out_channels: int, stride: int = 1) -> EncoderCell:
        """Encoder cell with the config's SE and residual-scale settings."""
        return EncoderCell(in_channels, out_channels, stride=stride, use_se=cfg.use_se, scale=cfg.residual_scale)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Features [N, c_l, h_l, w_l] of images [N, C, H, W] in [0, 1] for every latent group, coarse -> fine."""
        x = self.preprocess(self.stem(2.0 * images - 1.0))
        features: list[torch.Tensor] = []
        cells = iter(self.group_cells)
        downsample = iter(self.downsample)
        for scale in reversed(range(len(self.groups_at_scale))):
            for _ in range(self.groups_at_scale[scale]):
                x = next(cells)(x)
                features.append(x)
            if scale > 0:
                x = next(downsample)(x)
        features[-1] = self.enc0(features[-1])
        return features[::-1]
