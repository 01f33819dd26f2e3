"""Diagonal Gaussians for the latent hierarchy: soft-clamped parametrisation, sampling, log-density and KL.

Network outputs are soft-clamped (``5·tanh(x/5)``) on μ and log σ, and σ = exp(log σ) + 1e-2, which keeps the
KL terms and importance weights finite from the first step (NVAE's recipe).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SOFT_CLAMP_LIMIT = 5.0
SIGMA_FLOOR = 1e-2
_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def soft_clamp(x: torch.Tensor, limit: float = SOFT_CLAMP_LIMIT) -> torch.Tensor:
    """Smoothly squash x into (-limit, limit): ``limit · tanh(x / limit)``."""
    return limit * torch.tanh(x / limit)


@dataclass
class Normal:
    """Diagonal Gaussian N(mu, sigma²) over a latent tensor [N, C, h, w]; `log_sigma` is log(sigma)."""

    mu: torch.Tensor
    sigma: torch.Tensor
    log_sigma: torch.Tensor

    @classmethod
    def from_raw(cls, raw: torch.Tensor) -> Normal:
        """Gaussian from a conv output [N, 2C, h, w] (first half μ, second half log σ), soft-clamped."""
        raw_mu, raw_log_sigma = raw.chunk(2, dim=1)
        sigma = torch.exp(soft_clamp(raw_log_sigma)) + SIGMA_FLOOR
        return cls(soft_clamp(raw_mu), sigma, torch.log(sigma))

    @classmethod
    def from_variance(cls, mu: torch.Tensor, variance: torch.Tensor) -> Normal:
        """Gaussian from a mean and a (positive) variance, e.g. the result of Bayesian aggregation."""
        return cls(mu, torch.sqrt(variance), 0.5 * torch.log(variance))

    @classmethod
    def standard(cls, reference: torch.Tensor) -> Normal:
        """Exactly N(0, I) with the shape, dtype and device of `reference`."""
        zeros = torch.zeros_like(reference)
        return cls(zeros, torch.ones_like(reference), zeros)

    @property
    def variance(self) -> torch.Tensor:
        """sigma²."""
        return self.sigma * self.sigma

    def sample(self, noise: torch.Tensor, temperature: float | torch.Tensor = 1.0) -> torch.Tensor:
        """Reparameterised sample ``mu + temperature · sigma · noise`` for standard-normal noise."""
        return self.mu + temperature * self.sigma * noise

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log-density of z summed over all but the batch dimension: [N]."""
        standardized = (z - self.mu) / self.sigma
        log_density = -0.5 * standardized * standardized - self.log_sigma - _HALF_LOG_TWO_PI
        return log_density.flatten(1).sum(dim=1)

    def kl_divergence(self, other: Normal) -> torch.Tensor:
        """Analytic KL(self || other) summed over all but the batch dimension: [N], never negative.

        Written as ``0.5·(expm1(t) − t) + 0.5·((μ_q − μ_p)/σ_p)²`` with t = 2(log σ_q − log σ_p), whose
        elementwise terms are non-negative in floating point as well.
        """
        t = 2.0 * (self.log_sigma - other.log_sigma)
        mean_term = (self.mu - other.mu) / other.sigma
        kl = 0.5 * (torch.expm1(t) - t) + 0.5 * mean_term * mean_term
        return kl.flatten(1).sum(dim=1)
