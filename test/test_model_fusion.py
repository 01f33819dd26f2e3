"""Fusion behaviour: view-order invariance, the K = 0 prior, Bayesian aggregation, KL sign and gradient flow."""

from __future__ import annotations

import itertools

import pytest
import torch

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.model.aggregation import bayes_closed_form, bayes_iterative
from fusionvae_core.model.distributions import Normal

AGGREGATIONS = ("max", "mean", "bayes")
MODES = ("add", "all")
POSTERIORS = ("y", "xy")


@pytest.mark.parametrize(("aggregation", "mode"), list(itertools.product(AGGREGATIONS, MODES)))
def test_outputs_do_not_depend_on_view_order(aggregation: str, mode: str) -> None:
    torch.manual_seed(0)
    config = ModelConfig.preset("tiny", aggregation=aggregation, aggregation_mode=mode, posterior="xy")
    model = FusionVAE(config).eval()
    views, target = torch.rand(2, 3, 1, 16, 16), torch.rand(2, 1, 16, 16)
    permuted = views[:, [2, 0, 1]]
    noise = model.draw_noise(2 * 3)
    with torch.no_grad():
        images = model.sample(views, num_samples=3, noise=noise)
        images_permuted = model.sample(permuted, num_samples=3, noise=noise)
        weights = model.importance_log_weights(views, target, noise)
        weights_permuted = model.importance_log_weights(permuted, target, noise)
        other_views = model.sample(torch.rand(2, 3, 1, 16, 16), num_samples=3, noise=noise)
    torch.testing.assert_close(images_permuted, images, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weights_permuted, weights, rtol=1e-5, atol=1e-4)
    assert not torch.allclose(other_views, images, atol=1e-4), "the views must influence the samples"


@pytest.mark.parametrize(("aggregation", "mode"), list(itertools.product(AGGREGATIONS, MODES)))
def test_first_prior_without_views_is_exactly_standard_normal(aggregation: str, mode: str) -> None:
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset("tiny", aggregation=aggregation, aggregation_mode=mode))
    state = model.h.expand(2, -1, -1, -1)
    priors = _priors_without_views(model, state)
    assert priors[0].mu.shape == (2, *model.latent_shapes()[0])
    assert torch.equal(priors[0].mu, torch.zeros_like(priors[0].mu))
    assert torch.equal(priors[0].sigma, torch.ones_like(priors[0].sigma))
    assert torch.equal(priors[0].log_sigma, torch.zeros_like(priors[0].log_sigma))
    later = priors[1]
    assert not torch.equal(later.mu, torch.zeros_like(later.mu)), "later priors come from the generator state"


def _priors_without_views(model: FusionVAE, state: torch.Tensor) -> list[Normal]:
    """The priors of every group when generating without views (z = the prior mean)."""
    priors: list[Normal] = []
    with torch.no_grad():
        for group in model.groups:
            state, prior, posterior, _ = group(state, None, None, lambda p, q: p.mu)
            assert posterior is None
            priors.append(prior)
    return priors


@pytest.mark.parametrize("num_views", [0, 1, 2, 3])
def test_bayes_closed_form_matches_iterative_updates(num_views: int) -> None:
    generator = torch.Generator().manual_seed(num_views)
    shape = (4, 5, 3, 3)
    prior_mu = torch.randn(shape, generator=generator, dtype=torch.float64)
    prior_var = 0.1 + 2.0 * torch.rand(shape, generator=generator, dtype=torch.float64)
    obs_mu = torch.randn(4, num_views, *shape[1:], generator=generator, dtype=torch.float64)
    obs_var = 0.01 + 2.0 * torch.rand(4, num_views, *shape[1:], generator=generator, dtype=torch.float64)
    closed = bayes_closed_form(prior_mu, prior_var, obs_mu, obs_var)
    iterative = bayes_iterative(prior_mu, prior_var, obs_mu, obs_var)
    torch.testing.assert_close(closed, iterative, rtol=1e-10, atol=1e-12)
    reversed_views = bayes_closed_form(prior_mu, prior_var, obs_mu.flip(1), obs_var.flip(1))
    torch.testing.assert_close(reversed_views, closed, rtol=1e-12, atol=1e-12)


def test_bayes_with_equal_variances_averages_and_shrinks() -> None:
    prior_mu, prior_var = torch.zeros(1, 2), torch.full((1, 2), 2.0)
    obs_mu = torch.tensor([[[1.0, 3.0], [3.0, 5.0], [2.0, 4.0]]])
    mu, var = bayes_closed_form(prior_mu, prior_var, obs_mu, torch.full_like(obs_mu, 2.0))
    torch.testing.assert_close(var, torch.full((1, 2), 0.5))  # four equally precise sources
    torch.testing.assert_close(mu, obs_mu.sum(dim=1) / 4.0)  # the prior mean 0 counts as one of them


@pytest.mark.parametrize("posterior", POSTERIORS)
def test_gradients_reach_every_parameter(posterior: str) -> None:
    for index, (aggregation, mode) in enumerate(itertools.product(AGGREGATIONS, MODES)):
        torch.manual_seed(index)
        config = ModelConfig.preset("tiny", aggregation=aggregation, aggregation_mode=mode, posterior=posterior)
        model = FusionVAE(config)
        num_views = 1 + index % 3
        out = model(torch.rand(2, num_views, 1, 16, 16), torch.rand(2, 1, 16, 16), progress=0.1)
        (out.loss + config.regularization_weight * model.regularization_loss()).backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not missing, f"{aggregation}/{mode}/q({posterior}), K={num_views}: no gradient for {missing}"
        assert (out.kl_per_group >= 0).all()


def test_kl_is_zero_when_posterior_equals_prior() -> None:
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset("tiny"))
    prior = _priors_without_views(model, model.h.expand(2, -1, -1, -1))[1]
    kl = prior.kl_divergence(prior)
    assert torch.equal(kl, torch.zeros_like(kl))


def test_same_seed_gives_same_loss() -> None:
    losses = []
    for _ in range(2):
        torch.manual_seed(3)
        model = FusionVAE(ModelConfig.preset("tiny"))
        losses.append(model(torch.rand(2, 2, 1, 16, 16), torch.rand(2, 1, 16, 16)).loss)
    assert torch.equal(losses[0], losses[1])
    torch.manual_seed(4)
    model = FusionVAE(ModelConfig.preset("tiny"))
    assert not torch.equal(model(torch.rand(2, 2, 1, 16, 16), torch.rand(2, 1, 16, 16)).loss, losses[0])
