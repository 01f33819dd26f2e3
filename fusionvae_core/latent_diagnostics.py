"""Where a latent-variable model's information sits: KL per latent group and prior-mean vs posterior-mean error.

For FusionVAE and the CVAEs the views reach the image only through z ~ p(z | x), which training improves through
β·KL alone. These numbers show how far the prior still lags the posterior, per number of views K:
- `kl_per_group`: mean KL(q_l || p_l) in nats per latent group (coarse -> fine);
- `prior_mean_mse`: MSE to the target of the image generated from the prior means (temperature 0);
- `posterior_mean_mse`: MSE of the image generated from the posterior means (the target was seen), the floor the
  prior could reach with perfect fusion.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fusionvae_core.baselines.networks import ConditionalVAE
from fusionvae_core.model import FusionVAE


@dataclass(frozen=True)
class LatentDiagnostics:
    """Averages over the scored items for one K (see module docstring)."""

    num_views: int
    kl_per_group: list[float]
    prior_mean_mse: float
    posterior_mean_mse: float


def latent_diagnostics(
    model: FusionVAE | ConditionalVAE, views: torch.Tensor, target: torch.Tensor
) -> LatentDiagnostics:
    """Diagnostics of `model` (FusionVAE or CVAE) on one batch of views [B, K, C, H, W] and targets [B, C, H, W]."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            zero_noise = [torch.zeros(target.shape[0], *shape, device=target.device) for shape in model.latent_shapes()]
            posterior = model(views, target, noise=zero_noise)
            prior_image = model.sample_from_noise(views, zero_noise, 0.0)[:, 0]
    finally:
        model.train(was_training)
    return LatentDiagnostics(
        num_views=views.shape[1],
        kl_per_group=posterior.kl_per_group.mean(dim=0).tolist(),
        prior_mean_mse=float((prior_image - target).square().mean()),
        posterior_mean_mse=float((posterior.mean_image - target).square().mean()),
    )
