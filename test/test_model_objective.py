"""Objective schedules (β warm-up, KL balancing), the loss they build, and the spectral/BN regulariser."""

from __future__ import annotations

import itertools

import pytest
import torch

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.objective import MIN_BETA, fusion_loss, kl_balance_coefficients, kl_beta


def test_beta_warms_up_linearly_then_stays_one() -> None:
    assert kl_beta(0.0, 0.3) == pytest.approx(MIN_BETA)
    assert kl_beta(0.15, 0.3) == pytest.approx(MIN_BETA + (1 - MIN_BETA) / 2)
    assert kl_beta(0.3, 0.3) == 1.0 and kl_beta(0.9, 0.3) == 1.0
    assert kl_beta(0.0, 0.0) == 1.0
    values = [kl_beta(p / 100, 0.3) for p in range(31)]
    assert all(a < b for a, b in itertools.pairwise(values))
    with pytest.raises(ValueError, match="progress"):
        kl_beta(1.5, 0.3)


def test_balance_coefficients_have_mean_one_and_favour_busy_groups() -> None:
    kl = torch.tensor([[10.0, 1.0, 1.0], [14.0, 1.0, 3.0]])
    sizes = torch.tensor([16.0, 16.0, 64.0])
    alpha = kl_balance_coefficients(kl, sizes)
    assert alpha.shape == (3,) and float(alpha.mean()) == pytest.approx(1.0)
    assert alpha[0] > alpha[1] > alpha[2]  # KL per latent unit: 0.75, 0.06, 0.03
    assert not alpha.requires_grad


def test_loss_uses_balancing_only_during_warm_up() -> None:
    recon = torch.tensor([5.0, 7.0])
    kl = torch.tensor([[4.0, 0.5], [2.0, 0.5]])
    sizes = torch.tensor([1.0, 1.0])
    loss_after, beta_after = fusion_loss(recon, kl, sizes, progress=0.5, warmup_fraction=0.3, kl_balance=True)
    assert beta_after == 1.0 and float(loss_after) == pytest.approx(6.0 + 3.5)
    loss_during, beta_during = fusion_loss(recon, kl, sizes, progress=0.15, warmup_fraction=0.3, kl_balance=True)
    alpha = kl_balance_coefficients(kl, sizes)
    expected = 6.0 + beta_during * float((kl * alpha).sum(dim=1).mean())
    assert float(loss_during) == pytest.approx(expected)
    unbalanced, _ = fusion_loss(recon, kl, sizes, progress=0.15, warmup_fraction=0.3, kl_balance=False)
    assert float(unbalanced) == pytest.approx(6.0 + beta_during * 3.5)


def test_model_loss_combines_recon_and_kl_with_beta() -> None:
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset("tiny", kl_balance=False))
    views, target = torch.rand(2, 1, 1, 16, 16), torch.rand(2, 1, 16, 16)
    noise = model.draw_noise(2)
    out = model(views, target, progress=0.1, noise=noise)
    expected = (out.recon_nll + out.beta * out.kl_per_group.sum(dim=1)).mean()
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(out.elbo, -out.recon_nll - out.kl_per_group.sum(dim=1))
    assert out.beta == pytest.approx(kl_beta(0.1, model.config.kl_warmup_fraction))


def test_spectral_estimate_converges_to_largest_singular_value() -> None:
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset("tiny"))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    exact = sum(float(torch.linalg.matrix_norm(c.weight.detach().flatten(1), ord=2)) for c in convs)
    bn = sum(float(m.weight.detach().abs().max()) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    for _ in range(30):
        estimate = float(model.regularization_loss().detach())
    assert estimate == pytest.approx(exact + bn, rel=1e-3)
    assert "encoder.stem.spectral_u" in model.state_dict()


def test_regularization_gradient_shrinks_the_penalty() -> None:
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset("tiny"))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    before = float(model.regularization_loss().detach())
    for _ in range(5):
        optimizer.zero_grad()
        model.regularization_loss().backward()
        optimizer.step()
    assert float(model.regularization_loss().detach()) < before
