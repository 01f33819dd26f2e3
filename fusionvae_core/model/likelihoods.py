"""Output likelihoods p(y | z, x): Bernoulli on grey levels and the discretized logistic mixture (Salimans et al.).

Each likelihood maps the generator's output tensor (its "params") to a per-image negative log-likelihood in nats
and to the mean image in [0, 1] that `FusionVAE.sample` returns. `border` > 0 sums the NLL only over the pixels
at least that far from every edge (NVAE scores MNIST on the 28×28 digit inside its 2-px padding).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

NUM_BINS = 256


def sum_inside(per_pixel: torch.Tensor, border: int) -> torch.Tensor:
    """Sum of a per-pixel map [B, ..., H, W] over everything but the batch, leaving out `border` pixels per edge."""
    if border < 0 or 2 * border >= min(per_pixel.shape[-2:]):
        raise ValueError(f"border must lie in [0, {min(per_pixel.shape[-2:]) // 2}), got {border}")
    if border:
        per_pixel = per_pixel[..., border:-border, border:-border]
    return per_pixel.flatten(1).sum(dim=1)


class BernoulliLikelihood(nn.Module):
    """Pixel-wise Bernoulli with logits; targets may be grey levels in [0, 1] (continuous BCE, as the authors)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    @property
    def num_params(self) -> int:
        """Output channels the generator must produce: one logit per image channel."""
        return self.channels

    def nll(self, params: torch.Tensor, target: torch.Tensor, border: int = 0) -> torch.Tensor:
        """Binary cross-entropy summed over pixels (inside `border`) and channels: [B] nats."""
        return sum_inside(F.binary_cross_entropy_with_logits(params, target, reduction="none"), border)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """Mean image sigmoid(logits) in [0, 1]."""
        return torch.sigmoid(params)


class DiscretizedLogisticMixture(nn.Module):
    """Mixture of discretized logistics over 256 bins with channel-wise linear dependence (PixelCNN++ style).

    Params layout along dim 1: M mixture logits, M·C means, M·C log-scales, M·C(C−1)/2 coupling coefficients
    (channel c's location gets Σ_{j<c} coeff_{c,j}·y_j). Targets in [0, 1] are treated as 8-bit values (they are
    rounded to the nearest of the 256 levels). The mean image is Σ_k π_k clamp(m_k, −1, 1) mapped to [0, 1], where
    m_k applies the coupling to the component's own (clamped) locations of the preceding channels.
    """

    def __init__(self, channels: int, num_mixtures: int) -> None:
        super().__init__()
        self.channels = channels
        self.num_mixtures = num_mixtures
        self.num_coeffs = channels * (channels - 1) // 2

    @property
    def num_params(self) -> int:
        """Output channels the generator must produce."""
        return self.num_mixtures * (1 + 2 * self.channels + self.num_coeffs)

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mixture logits [B,M,H,W], means and log-scales [B,M,C,H,W], coefficients [B,M,P,H,W]."""
        batch, _, height, width = params.shape
        m, c = self.num_mixtures, self.channels
        logits, means, log_scales, coeffs = params.split([m, m * c, m * c, m * self.num_coeffs], dim=1)
        means = means.reshape(batch, m, c, height, width)
        log_scales = log_scales.reshape(batch, m, c, height, width).clamp(min=-7.0)
        coeffs = torch.tanh(coeffs.reshape(batch, m, self.num_coeffs, height, width))
        return logits, means, log_scales, coeffs

    def _couple(self, means: torch.Tensor, coeffs: torch.Tensor, observed: torch.Tensor | None) -> torch.Tensor:
        """Locations [B,M,C,H,W] after adding Σ_{j<c} coeff_{c,j}·v_j to channel c.

        v_j is the `observed` value of channel j (likelihood) or, when `observed` is None, the component's own
        coupled location of channel j clamped to [-1, 1] (mean image; the outputs are then clamped too).
        """
        locations: list[torch.Tensor] = []
        pair = 0
        for c in range(self.channels):
            location = means[:, :, c]
            for j in range(c):
                preceding = observed[:, :, j] if observed is not None else locations[j]
                location = location + coeffs[:, :, pair] * preceding
                pair += 1
            locations.append(location if observed is not None else location.clamp(-1.0, 1.0))
        return torch.stack(locations, dim=2)

    def nll(self, params: torch.Tensor, target: torch.Tensor, border: int = 0) -> torch.Tensor:
        """Negative log-likelihood of 8-bit targets summed over pixels (inside `border`) and channels: [B] nats."""
        logits, means, log_scales, coeffs = self._split(params)
        levels = torch.round(target.clamp(0.0, 1.0) * (NUM_BINS - 1))
        y = (levels / (NUM_BINS - 1) * 2.0 - 1.0).unsqueeze(1)  # [B,1,C,H,W] in [-1, 1]
        centered = y - self._couple(means, coeffs, y.expand_as(means))
        inv_scale = torch.exp(-log_scales)
        half_bin = 1.0 / (NUM_BINS - 1)
        upper = inv_scale * (centered + half_bin)
        lower = inv_scale * (centered - half_bin)
        log_cdf_upper = upper - F.softplus(upper)  # log sigmoid(upper): mass of the lowest bin
        log_survival_lower = -F.softplus(lower)  # log(1 - sigmoid(lower)): mass of the highest bin
        bin_mass = torch.sigmoid(upper) - torch.sigmoid(lower)
        middle = inv_scale * centered
        log_density_mid = middle - log_scales - 2.0 * F.softplus(middle) - math.log((NUM_BINS - 1) / 2.0)
        # interior bins; the density times the bin width replaces a bin mass that underflows
        log_mass = torch.where(bin_mass > 1e-5, torch.log(bin_mass.clamp(min=1e-12)), log_density_mid)
        log_prob = torch.where(y < -0.999, log_cdf_upper, torch.where(y > 0.999, log_survival_lower, log_mass))
        log_mix = log_prob.sum(dim=2) + F.log_softmax(logits, dim=1)  # [B,M,H,W]
        return sum_inside(-torch.logsumexp(log_mix, dim=1), border)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """Mixture-weighted mean image in [0, 1] (see class docstring)."""
        logits, means, _, coeffs = self._split(params)
        weights = torch.softmax(logits, dim=1).unsqueeze(2)
        return ((weights * self._couple(means, coeffs, None)).sum(dim=1) + 1.0) / 2.0


Likelihood = BernoulliLikelihood | DiscretizedLogisticMixture


def make_likelihood(name: str, channels: int, num_mixtures: int) -> Likelihood:
    """Likelihood module for a config's `likelihood` name."""
    if name == "bernoulli":
        return BernoulliLikelihood(channels)
    if name == "logistic_mixture":
        return DiscretizedLogisticMixture(channels, num_mixtures)
    raise ValueError(f"unknown likelihood {name!r}; expected 'bernoulli' or 'logistic_mixture'")
