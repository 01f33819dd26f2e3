"""Permutation-invariant fusion of per-view tensors along the view axis (dim 1): max, mean and Bayesian.

Bayesian aggregation (Volpp et al.; paper eq. 6–7 and appendix B eq. 9–10) conditions a Gaussian prior on K
Gaussian observations. The closed form is vectorised over K (ONNX-friendly); the iterative form applies the Bayes
update one view at a time and exists to check the closed form.
"""

from __future__ import annotations

import torch


def aggregate_features(features: torch.Tensor, method: str) -> torch.Tensor:
    """Pixel-wise max or mean over the view axis of [N, K, C, h, w] (K >= 1) -> [N, C, h, w]."""
    if method == "max":
        return features.amax(dim=1)
    if method == "mean":
        return features.mean(dim=1)
    raise ValueError(f"aggregate_features: method must be 'max' or 'mean', got {method!r}")


def bayes_closed_form(
    prior_mu: torch.Tensor, prior_var: torch.Tensor, obs_mu: torch.Tensor, obs_var: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior (mean, variance) of a Gaussian prior [N, ...] given K observations [N, K, ...] (K may be 0).

    σ_z² = (1/σ_0² + Σ_i 1/σ_i²)⁻¹ and μ_z = μ_0 + σ_z² · Σ_i (μ_i − μ_0)/σ_i² (eq. 9–10 generalised to K views;
    the printed eq. 10 shows the prior variance where the posterior variance belongs).
    """
    obs_precision = obs_var.reciprocal()
    variance = (prior_var.reciprocal() + obs_precision.sum(dim=1)).reciprocal()
    innovation = ((obs_mu - prior_mu.unsqueeze(1)) * obs_precision).sum(dim=1)
    return prior_mu + variance * innovation, variance


def bayes_iterative(
    prior_mu: torch.Tensor, prior_var: torch.Tensor, obs_mu: torch.Tensor, obs_var: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Same posterior as `bayes_closed_form`, by the sequential update of eq. 6–7 (one view at a time)."""
    mu, var = prior_mu, prior_var
    for view in range(obs_mu.shape[1]):
        gain = var / (var + obs_var[:, view])
        mu = mu + gain * (obs_mu[:, view] - mu)
        var = var * (1.0 - gain)
    return mu, var
