"""Likelihoods: the logistic mixture is a normalised distribution over 8-bit values; means lie in [0, 1]."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn import functional as F

from fusionvae_core.model.likelihoods import BernoulliLikelihood, DiscretizedLogisticMixture, make_likelihood


@pytest.mark.parametrize("channels", [1, 2])
def test_logistic_mixture_sums_to_one_over_all_values(channels: int) -> None:
    torch.manual_seed(channels)
    likelihood = DiscretizedLogisticMixture(channels, num_mixtures=3)
    params = torch.randn(1, likelihood.num_params, 1, 1) * 2.0
    levels = torch.arange(256, dtype=torch.float64) / 255.0
    grid = torch.tensor(list(itertools.product(levels.tolist(), repeat=channels)), dtype=torch.float32)
    targets = grid.reshape(-1, channels, 1, 1)
    log_probs = -likelihood.nll(params.expand(targets.shape[0], -1, -1, -1), targets)
    total = torch.logsumexp(log_probs.double(), dim=0).exp()
    assert abs(float(total) - 1.0) < 1e-3


def test_logistic_mixture_mean_applies_channel_coupling() -> None:
    likelihood = DiscretizedLogisticMixture(3, num_mixtures=1)
    params = torch.zeros(1, likelihood.num_params, 2, 2)  # layout: logit, 3 means, 3 log-scales, 3 coefficients
    params[:, 1:4] = torch.tensor([-0.5, 0.0, 0.5])[:, None, None]
    params[:, 4:7] = -4.0
    params[:, 7] = torch.atanh(torch.tensor(0.5))  # green location += 0.5 · red
    mean = likelihood.mean(params)
    # red -0.5, green 0 + 0.5·(-0.5) = -0.25, blue 0.5; mapped from [-1, 1] to [0, 1]
    torch.testing.assert_close(mean[0, :, 0, 0], torch.tensor([0.25, 0.375, 0.75]))
    near, far = mean, 1.0 - mean
    assert (likelihood.nll(params, near) < likelihood.nll(params, far)).all()


def test_logistic_mixture_mean_stays_in_unit_range() -> None:
    torch.manual_seed(0)
    likelihood = make_likelihood("logistic_mixture", 3, 10)
    mean = likelihood.mean(torch.randn(2, likelihood.num_params, 4, 4) * 10.0)
    assert mean.min() >= 0.0 and mean.max() <= 1.0


def test_bernoulli_is_summed_bce_on_grey_levels() -> None:
    torch.manual_seed(0)
    likelihood = BernoulliLikelihood(1)
    logits, target = torch.randn(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    expected = F.binary_cross_entropy(torch.sigmoid(logits), target, reduction="none").sum(dim=(1, 2, 3))
    torch.testing.assert_close(likelihood.nll(logits, target), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(likelihood.mean(logits), torch.sigmoid(logits))


def test_unknown_likelihood_is_named() -> None:
    with pytest.raises(ValueError, match="poisson"):
        make_likelihood("poisson", 1, 1)
