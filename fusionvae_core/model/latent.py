"""Per-group latent heads: the conditional prior p_l (with view aggregation) and the approximate posterior q_l.

Prior construction per aggregation × mode (state = generator features, used for groups l > 1 only):
- max/mean, "add": p_l = conv(agg(f_lx) + state); "all": p_l = conv(agg({f_lx_1..K, state})).
- bayes, "add": per-view convs give Gaussian observations (μ_i, σ_i²) that update a Bayesian prior, which is
  N(0, I) for l = 1 and the Gaussian conv(state) for l > 1; "all": the update starts from N(0, I) and the state's
  Gaussian conv(state) is one more observation. The closed form of the update is used (vectorised over K).
- K = 0: p_1 = N(0, I) exactly; for l > 1 the prior comes from the generator state alone.
"""

from __future__ import annotations

import torch
from torch import nn

from fusionvae_core.model.aggregation import aggregate_features, bayes_closed_form
from fusionvae_core.model.distributions import Normal

HEAD_INIT_SCALE = 0.1


class GaussianHead(nn.Module):
    """ELU → conv3x3 mapping features to a soft-clamped diagonal Gaussian; small init keeps it near N(0, I)."""

    def __init__(self, channels: int, latent_channels: int) -> None:
        super().__init__()
        self.activation = nn.ELU()
        self.conv = nn.Conv2d(channels, 2 * latent_channels, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.mul_(HEAD_INIT_SCALE)
        self.bias = nn.Parameter(torch.zeros(2 * latent_channels, 1, 1))

    def forward(self, features: torch.Tensor) -> Normal:
        """Gaussian over the latent group for features [N, c, h, w]."""
        return Normal.from_raw(self.conv(self.activation(features)) + self.bias)


class ConditionalPrior(nn.Module):
    """p_l(z_l | x, z_<l) for one latent group, built from K context features and the generator state."""

    def __init__(self, channels: int, latent_channels: int, aggregation: str, mode: str, *, first: bool) -> None:
        super().__init__()
        self.aggregation, self.mode, self.first = aggregation, mode, first
        self.latent_channels = latent_channels
        if aggregation == "bayes":
            self.view_head = GaussianHead(channels, latent_channels)
            self.state_head: GaussianHead | None = None if first else GaussianHead(channels, latent_channels)
        else:
            self.head = GaussianHead(channels, latent_channels)

    def forward(self, views: torch.Tensor | None, state: torch.Tensor) -> Normal:
        """Prior from view features [N, K, c, h, w] (None when K = 0) and the generator state [N, c, h, w]."""
        if self.first and views is None:
            return Normal.standard(state.new_zeros(state.shape[0], self.latent_channels, *state.shape[2:]))
        if self.aggregation == "bayes":
            return self._bayes(views, state)
        if views is None:
            return self.head(state)
        if self.first:
            return self.head(aggregate_features(views, self.aggregation))
        if self.mode == "add":
            return self.head(aggregate_features(views, self.aggregation) + state)
        return self.head(aggregate_features(torch.cat([views, state.unsqueeze(1)], dim=1), self.aggregation))

    def _bayes(self, views: torch.Tensor | None, state: torch.Tensor) -> Normal:
        """Bayesian aggregation of the per-view Gaussians onto the mode's Bayesian prior."""
        observations: list[Normal] = []
        if views is not None:
            batch, count = views.shape[:2]
            per_view = self.view_head(views.flatten(0, 1))
            observations.append(
                Normal(*(t.unflatten(0, (batch, count)) for t in (per_view.mu, per_view.sigma, per_view.log_sigma)))
            )
        latent_shape = (state.shape[0], self.latent_channels, *state.shape[2:])
        if self.state_head is None:
            prior = Normal.standard(state.new_zeros(latent_shape))
        elif self.mode == "add":
            prior = self.state_head(state)
        else:
            prior = Normal.standard(state.new_zeros(latent_shape))
            from_state = self.state_head(state)
            observations.append(
                Normal(from_state.mu[:, None], from_state.sigma[:, None], from_state.log_sigma[:, None])
            )
        if not observations:
            return prior
        obs_mu = torch.cat([o.mu for o in observations], dim=1)
        obs_var = torch.cat([o.variance for o in observations], dim=1)
        return Normal.from_variance(*bayes_closed_form(prior.mu, prior.variance, obs_mu, obs_var))


class ApproximatePosterior(nn.Module):
    """q_l(z_l | y, z_<l) from target features (+ aggregated view features for q(x,y)) + generator state.

    q is parametrised directly, not as NVAE's residual relative to p, so that q(y) really depends on the target
    (and z_<l) only, as the posterior ablation (paper table 4) requires.
    """

    def __init__(self, channels: int, latent_channels: int, aggregation: str, use_views: bool, *, first: bool) -> None:
        super().__init__()
        self.head = GaussianHead(channels, latent_channels)
        # Bayesian aggregation fuses Gaussians, not features: q(x, y) then averages the view features.
        self.feature_aggregation = "mean" if aggregation == "bayes" else aggregation
        self.use_views, self.first = use_views, first

    def forward(self, target: torch.Tensor, views: torch.Tensor | None, state: torch.Tensor) -> Normal:
        """Posterior from target features [N, c, h, w], view features [N, K, c, h, w] or None, and the state."""
        features = target
        if self.use_views and views is not None:
            features = features + aggregate_features(views, self.feature_aggregation)
        if not self.first:
            features = features + state
        return self.head(features)
