"""The training objective of eq. 8: reconstruction NLL + β · Σ_l α_l · KL_l, with NVAE's warm-up schedules.

β ramps linearly from `MIN_BETA` to 1 over the first `warmup_fraction` of training; the KL-balancing coefficients
α_l (NVAE) are used only during that warm-up and are 1 afterwards.
"""

from __future__ import annotations

import torch

MIN_BETA = 1e-4
BALANCE_EPS = 0.01


def kl_beta(progress: float, warmup_fraction: float) -> float:
    """KL weight β at a training `progress` in [0, 1]: linear from MIN_BETA to 1, then 1 once warm-up is over."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"kl_beta: progress must lie in [0, 1], got {progress}")
    if warmup_fraction <= 0.0 or progress >= warmup_fraction:
        return 1.0
    return MIN_BETA + (1.0 - MIN_BETA) * progress / warmup_fraction


def kl_balance_coefficients(kl_per_group: torch.Tensor, group_sizes: torch.Tensor) -> torch.Tensor:
    """NVAE's KL-balancing weights α [L] (detached, mean 1) for per-example KLs [B, L] and latent sizes [L].

    α_l ∝ (mean_b |KL_l| + 0.01) / size_l: groups that carry more KL per latent unit are pushed harder, which
    evens out the use of the groups and prevents posterior collapse of the small ones.
    """
    per_unit = (kl_per_group.detach().abs().mean(dim=0) + BALANCE_EPS) / group_sizes.to(kl_per_group)
    return per_unit / per_unit.mean()


def fusion_loss(
    recon_nll: torch.Tensor,
    kl_per_group: torch.Tensor,
    group_sizes: torch.Tensor,
    *,
    progress: float,
    warmup_fraction: float,
    kl_balance: bool,
) -> tuple[torch.Tensor, float]:
    """Scalar loss mean_b(recon_nll + β Σ_l α_l KL_l) and the β used."""
    beta = kl_beta(progress, warmup_fraction)
    if kl_balance and progress < warmup_fraction:
        weighted_kl = (kl_per_group * kl_balance_coefficients(kl_per_group, group_sizes)).sum(dim=1)
    else:
        weighted_kl = kl_per_group.sum(dim=1)
    return (recon_nll + beta * weighted_kl).mean(), beta
