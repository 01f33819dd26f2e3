"""Where a latent-variable model's information sits: KL per latent group and prior-mean vs posterior-mean error.

For FusionVAE and the CVAEs the views reach the image only through z ~ p(z | x), which training improves through
β·KL alone. These numbers show how far the prior still lags the posterior, per number of views K:
- `kl_per_group`: mean KL(q_l || p_l) in nats per latent group (coarse -> fine);
- `prior_mean_mse`: MSE to the target of the image generated from the prior means (temperature 0);
- `posterior_mean_mse`: MSE of the image generated from the posterior means (the target was seen), the floor the
  prior could reach with perfect fusion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from fusionvae_core.baselines.networks import ConditionalVAE
from fusionvae_core.data import FusionDataset
from fusionvae_core.evaluation import VIEW_COUNTS, EvaluationSettings, evaluation_batches
from fusionvae_core.model import FusionVAE

SECTION_TITLE = "## Where the information sits (latent diagnostics)"


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


def diagnostics_section(
    predictors: Sequence[tuple[str, Any]], dataset: FusionDataset, settings: EvaluationSettings, device: torch.device
) -> list[str]:
    """Markdown lines: per latent-variable model among `predictors` (name, network; others are left out) and K, the
    item-weighted averages of `latent_diagnostics` over the evaluation items. [] when no predictor has latents."""
    latent_models = [(name, model) for name, model in predictors if isinstance(model, (FusionVAE, ConditionalVAE))]
    if not latent_models:
        return []
    items = settings.item_count(dataset)
    lines = [
        SECTION_TITLE,
        "",
        f"The {items} scored items. KL(q‖p) in nats per latent group (coarse → fine); MSE (10⁻²) of the image "
        "generated from the prior means (temperature 0: what the views alone give) and from the posterior means (the "
        "target seen: the floor a perfect prior would reach). A large gap means the prior has not yet learnt to fuse "
        "the views: FusionVAE's views reach the image only through p(z | x), the +S baselines' also through skip "
        "connections.",
        "",
        "| model | K | KL per group | KL total | MSE prior mean | MSE posterior mean |",
        "|---|---:|---|---:|---:|---:|",
    ]
    per_model: list[dict[int, LatentDiagnostics]] = [{} for _ in latent_models]
    for k in VIEW_COUNTS:  # each K's items are loaded once and serve every model
        batches = [
            (batch.views.to(device), batch.target.to(device)) for batch in evaluation_batches(dataset, settings, k)
        ]
        for results, (_, model) in zip(per_model, latent_models):
            results[k] = _item_average(
                [(target.shape[0], latent_diagnostics(model, views, target)) for views, target in batches]
            )
    for (name, _), results in zip(latent_models, per_model):
        for k, result in results.items():
            groups = ", ".join(f"{value:.1f}" for value in result.kl_per_group)
            lines.append(
                f"| {name} | {k} | {groups} | {sum(result.kl_per_group):.1f} | "
                f"{100 * result.prior_mean_mse:.2f} | {100 * result.posterior_mean_mse:.2f} |"
            )
    return [*lines, ""]


def _item_average(parts: list[tuple[int, LatentDiagnostics]]) -> LatentDiagnostics:
    """Item-weighted mean of per-batch diagnostics (parts: (batch size, diagnostics)) for one K."""
    total = sum(size for size, _ in parts)

    def mean(values: list[float]) -> float:
        return sum(size * value for (size, _), value in zip(parts, values)) / total

    groups = zip(*(result.kl_per_group for _, result in parts))
    return LatentDiagnostics(
        num_views=parts[0][1].num_views,
        kl_per_group=[mean(list(values)) for values in groups],
        prior_mean_mse=mean([result.prior_mean_mse for _, result in parts]),
        posterior_mean_mse=mean([result.posterior_mean_mse for _, result in parts]),
    )
