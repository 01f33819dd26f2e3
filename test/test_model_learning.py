"""A real learning signal: a few hundred AdaMax steps on a fixed structured batch cut the negative ELBO sharply."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from fusionvae_core import FusionVAE, ModelConfig

pytestmark = pytest.mark.slow

STEPS = 300


def test_training_steps_cut_the_negative_elbo(make_batch: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> None:
    torch.manual_seed(0)
    views, target = make_batch(16, 2, seed=0)
    model = FusionVAE(ModelConfig.preset("tiny"))
    optimizer = torch.optim.Adamax(model.parameters(), lr=1e-2)
    negative_elbo = []
    for step in range(STEPS):
        out = model(views, target, progress=step / STEPS)
        loss = out.loss + model.config.regularization_weight * model.regularization_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        negative_elbo.append(float(-out.elbo.detach().mean()))
    assert all(map(torch.isfinite, map(torch.tensor, negative_elbo)))
    ratio = (sum(negative_elbo[-10:]) / 10) / negative_elbo[0]
    # Measured: 0.21-0.24 for seeds 0-2 (≈175 -> ≈40 nats per 16x16 image; the floor is set by the grey shades,
    # whose Bernoulli BCE cannot reach 0). 0.5 leaves a wide margin while still demanding real learning.
    assert ratio < 0.5, f"negative ELBO went from {negative_elbo[0]:.1f} to {negative_elbo[-1]:.1f} nats"
