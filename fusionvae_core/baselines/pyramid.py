"""Building blocks shared by the baselines (paper sec. 5.3): a residual encoder pyramid and an upsampling decoder.

Both reuse FusionVAE's NVAE cells. The encoder maps an image to feature maps at every resolution from full size
down to the FusionVAE preset's coarsest latent resolution (the bottleneck); the decoder climbs back up and, for
the +S variants, adds the max-fused view features of each resolution (the skip connections).
"""

from __future__ import annotations

import torch
from torch import nn

from fusionvae_core.config import ModelConfig
from fusionvae_core.model.cells import DecoderCell, EncoderCell


def pyramid_levels(cfg: ModelConfig) -> int:
    """Number of stride-2 levels from the image size down to the preset's coarsest latent resolution."""
    return (cfg.image_size // cfg.scale_resolution(0)).bit_length() - 1


def level_channels(width: int, level: int) -> int:
    """Feature channels at pyramid level `level` (0 = full resolution): the width doubles per level."""
    return width << level


class PyramidEncoder(nn.Module):
    """Stem conv, then per level a stride-2 encoder cell (doubling channels) and one more encoder cell."""

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(cfg.channels, width, 3, padding=1, bias=False)  # the cells start with BN
        self.levels = nn.ModuleList()
        for level in range(1, pyramid_levels(cfg) + 1):
            channels_in, channels = level_channels(width, level - 1), level_channels(width, level)
            self.levels.append(
                nn.Sequential(
                    EncoderCell(channels_in, channels, stride=2, use_se=cfg.use_se, scale=cfg.residual_scale),
                    EncoderCell(channels, channels, use_se=cfg.use_se, scale=cfg.residual_scale),
                )
            )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Features of images [N, C, H, W] in [0, 1] at every level, fine -> coarse (last = bottleneck)."""
        features = [self.stem(2.0 * images - 1.0)]
        for level in self.levels:
            features.append(level(features[-1]))
        return features


class PyramidDecoder(nn.Module):
    """Per level an upsampling decoder cell (halving channels), an optional skip addition and one decoder cell."""

    def __init__(self, cfg: ModelConfig, width: int, num_params: int) -> None:
        super().__init__()
        self.upsample = nn.ModuleList()
        self.refine = nn.ModuleList()
        for level in range(pyramid_levels(cfg), 0, -1):
            channels_in, channels = level_channels(width, level), level_channels(width, level - 1)
            self.upsample.append(_decoder_cell(cfg, channels_in, channels, upsample=True))
            self.refine.append(_decoder_cell(cfg, channels, channels))
        self.output = nn.Sequential(nn.ELU(), nn.Conv2d(width, num_params, 3, padding=1))

    def forward(self, bottleneck: torch.Tensor, skips: list[torch.Tensor] | None) -> torch.Tensor:
        """Likelihood parameters from the bottleneck state; `skips` (fine -> coarse, as the encoder) are added."""
        x = bottleneck
        for index, (upsample, refine) in enumerate(zip(self.upsample, self.refine)):
            x = upsample(x)
            if skips is not None:
                x = x + skips[len(self.upsample) - 1 - index]
            x = refine(x)
        return self.output(x)


def _decoder_cell(cfg: ModelConfig, channels_in: int, channels: int, *, upsample: bool = False) -> DecoderCell:
    """Decoder cell with the preset's expansion, squeeze-excitation and residual-scale settings."""
    return DecoderCell(
        channels_in,
        channels,
        upsample=upsample,
        expansion=cfg.decoder_expansion,
        use_se=cfg.use_se,
        scale=cfg.residual_scale,
    )


def fuse_views(features: torch.Tensor, batch: int) -> torch.Tensor:
    """Pixel-wise max over the views of features [B·K, c, h, w] (views folded into the batch) -> [B, c, h, w]."""
    return features.unflatten(0, (batch, features.shape[0] // batch)).amax(dim=1)
