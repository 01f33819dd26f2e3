"""One latent group of the top-down generator: its decoder cells, conditional prior p_l, posterior q_l and merge.

Per group l (coarse -> fine), as NVAE's decoder block with FusionVAE's conditional prior (paper sec. 4, fig. 2):
1. the generator state passes the group's decoder cells (none for l = 1, whose state is the trainable h);
2. a learned 1x1 conv of the state (NVAE's EncCombinerCell) is added to encoder features: to the target
   features for the posterior and, for l > 1, to the aggregated view features for the prior;
3. prior head ELU → conv1x1, posterior head conv3x3 (NVAE's dec_sampler / enc_sampler);
4. z (posterior sample in training, prior sample when generating) is merged into the state by a 1x1 conv of
   [state, z] (NVAE's DecCombinerCell).

Prior construction per aggregation × mode (c(state) = the combiner conv of the state, l > 1 only):
- max/mean, "add": p_l = head(agg(f_lx) + c(state)); "all": p_l = head(agg({f_lx_1..K, c(state)})).
- bayes (paper eq. 6–7, appendix B, Volpp et al.): per-view heads give Gaussian observations (μ_i, σ_i²) that
  update a Gaussian prior in closed form. "add": the prior is N(0, I) for l = 1 and head(state) for l > 1; "all":
  the prior is N(0, I) and head(state) is one more observation. This is the paper's form; the authors' code starts
  the update from the first view without a prior, which equals ours with an uninformative prior.
- K = 0: p_1 = N(0, I) exactly; for l > 1 the prior comes from the generator state alone.
The posterior is parametrised directly (not as NVAE's residual on the prior), so that q(y) really depends on the
target and z_<l only, as the posterior ablation (paper table 4) requires.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from fusionvae_core.model.aggregation import aggregate_features, bayes_closed_form
from fusionvae_core.model.distributions import Normal

HEAD_INIT_SCALE = 0.1


class GaussianHead(nn.Module):
    """Features -> soft-clamped diagonal Gaussian through [ELU →] conv; small init keeps it near N(0, I) at first.

    `kind` "prior": ELU → conv1x1 (NVAE's prior head); "posterior": conv3x3 (NVAE's posterior head).
    """

    def __init__(self, channels: int, latent_channels: int, kind: str) -> None:
        super().__init__()
        if kind not in ("prior", "posterior"):
            raise ValueError(f"GaussianHead: kind must be 'prior' or 'posterior', got {kind!r}")
        kernel = 1 if kind == "prior" else 3
        self.activation: nn.Module = nn.ELU() if kind == "prior" else nn.Identity()
        self.conv = nn.Conv2d(channels, 2 * latent_channels, kernel, padding=kernel // 2, bias=False)
        with torch.no_grad():
            self.conv.weight.mul_(HEAD_INIT_SCALE)
        self.bias = nn.Parameter(torch.zeros(2 * latent_channels, 1, 1))

    def forward(self, features: torch.Tensor) -> Normal:
        """Gaussian over the latent group for features [N, c, h, w]."""
        return Normal.from_raw(self.conv(self.activation(features)) + self.bias)


class LatentGroup(nn.Module):
    """Everything of latent group l: decoder cells, state combiner, prior, posterior and the z merge."""

    def __init__(
        self,
        channels: int,
        latent_channels: int,
        *,
        first: bool,
        cells: list[nn.Module],
        aggregation: str,
        mode: str,
        posterior_uses_views: bool,
    ) -> None:
        super().__init__()
        self.first, self.aggregation, self.mode = first, aggregation, mode
        self.latent_channels = latent_channels
        self.posterior_uses_views = posterior_uses_views
        self.cells = nn.Sequential(*cells)
        self.combine_state: nn.Module | None = None if first else nn.Conv2d(channels, channels, 1)
        self.prior_head = GaussianHead(channels, latent_channels, "prior")  # per view with Bayesian aggregation
        self.state_head: GaussianHead | None = (
            GaussianHead(channels, latent_channels, "prior") if aggregation == "bayes" and not first else None
        )
        self.posterior_head = GaussianHead(channels, latent_channels, "posterior")
        # Bayesian aggregation fuses Gaussians, not features: q(x, y) then averages the view features.
        self.feature_aggregation = "mean" if aggregation == "bayes" else aggregation
        self.merge = nn.Conv2d(channels + latent_channels, channels, 1)

    def forward(
        self,
        state: torch.Tensor,
        views: torch.Tensor | None,
        target: torch.Tensor | None,
        draw: Callable[[Normal, Normal | None], torch.Tensor],
    ) -> tuple[torch.Tensor, Normal, Normal | None, torch.Tensor]:
        """(new state, prior, posterior or None, z) for the incoming state [N, c, h, w].

        `views` [N, K, c, h, w] (None when K = 0) and `target` [N, c, h, w] (None when generating) are this group's
        encoder features; `draw(prior, posterior)` returns z (the caller owns the noise and the temperature).
        """
        state = self.cells(state)
        combined = self.combine_state(state) if self.combine_state is not None else None
        prior = self._prior(views, state, combined)
        posterior = self._posterior(target, views, combined) if target is not None else None
        z = draw(prior, posterior)
        return self.merge(torch.cat([state, z], dim=1)), prior, posterior, z

    def _prior(self, views: torch.Tensor | None, state: torch.Tensor, combined: torch.Tensor | None) -> Normal:
        """p_l from view features [N, K, c, h, w] (or None), the state and its combiner conv (None for l = 1)."""
        if self.aggregation == "bayes":
            return self._bayes(views, state)
        if combined is None:
            if views is None:
                return Normal.standard(state.new_zeros(state.shape[0], self.latent_channels, *state.shape[2:]))
            return self.prior_head(aggregate_features(views, self.aggregation))
        if views is None:
            return self.prior_head(combined)
        if self.mode == "add":
            return self.prior_head(aggregate_features(views, self.aggregation) + combined)
        return self.prior_head(aggregate_features(torch.cat([views, combined.unsqueeze(1)], dim=1), self.aggregation))

    def _bayes(self, views: torch.Tensor | None, state: torch.Tensor) -> Normal:
        """Bayesian aggregation of the per-view Gaussians onto the mode's Gaussian prior (module docstring)."""
        observations: list[Normal] = []
        if views is not None:
            batch, count = views.shape[:2]
            per_view = self.prior_head(views.flatten(0, 1))
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

    def _posterior(self, target: torch.Tensor, views: torch.Tensor | None, combined: torch.Tensor | None) -> Normal:
        """q_l from target features (+ aggregated view features for q(x, y)) + the combined state."""
        features = target
        if self.posterior_uses_views and views is not None:
            features = features + aggregate_features(views, self.feature_aggregation)
        if combined is not None:
            features = features + combined
        return self.posterior_head(features)
