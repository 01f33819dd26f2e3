"""Input checks and row repetition shared by FusionVAE and the baselines (one wording for every model's errors)."""

from __future__ import annotations

import torch

from fusionvae_core.config import ModelConfig


def check_views(cfg: ModelConfig, views: object, owner: str) -> tuple[int, int]:
    """Validate views [B, K, C, H, W] (float, K <= max_views, image shape of `cfg`) and return (B, K)."""
    if not isinstance(views, torch.Tensor) or not views.is_floating_point() or views.dim() != 5:
        raise ValueError(
            f"{owner}: views must be a float tensor [B, K, C, H, W], got "
            f"{getattr(views, 'dtype', type(views).__name__)} of shape {tuple(getattr(views, 'shape', ()))}"
        )
    if tuple(views.shape[2:]) != (cfg.channels, cfg.image_size, cfg.image_size):
        raise ValueError(
            f"{owner}: views have image shape {tuple(views.shape[2:])}, expected "
            f"{(cfg.channels, cfg.image_size, cfg.image_size)} for config {cfg.name!r}"
        )
    if views.shape[1] > cfg.max_views:
        raise ValueError(f"{owner}: got {views.shape[1]} views, at most max_views = {cfg.max_views}")
    return views.shape[0], views.shape[1]


def check_images(cfg: ModelConfig, images: object, name: str, batch: int, owner: str) -> None:
    """Raise ValueError unless `images` is a float [batch, C, H, W] tensor matching `cfg`."""
    expected = (batch, cfg.channels, cfg.image_size, cfg.image_size)
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise ValueError(f"{owner}: {name} must be a float tensor, got {type(images).__name__}")
    if tuple(images.shape) != expected:
        raise ValueError(f"{owner}: {name} has shape {tuple(images.shape)}, expected {expected}")


def repeat_rows(tensor: torch.Tensor, repeats: int) -> torch.Tensor:
    """Repeat every row `repeats` times consecutively: row b becomes rows b·repeats … b·repeats + repeats − 1."""
    return tensor.unsqueeze(1).expand(tensor.shape[0], repeats, *tensor.shape[1:]).flatten(0, 1)
