"""Every preset builds, runs forward and sampling for K = 0..3 with the documented shapes and finite values."""

from __future__ import annotations

import pytest
import torch

from fusionvae_core import FusionVAE, ModelConfig

BATCH = 2


def _inputs(config: ModelConfig, num_views: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random views [B, K, C, H, W] and targets [B, C, H, W] in [0, 1] for a config."""
    shape = (config.channels, config.image_size, config.image_size)
    return torch.rand(BATCH, num_views, *shape), torch.rand(BATCH, *shape)


def _check_outputs(model: FusionVAE, views: torch.Tensor, target: torch.Tensor) -> None:
    """Forward and sample shapes, finiteness and non-negative KL for one input set."""
    config = model.config
    out = model(views, target, progress=0.1)
    groups = config.num_latent_groups
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    for name in ("recon_nll", "elbo", "log_q", "log_p", "log_weight"):
        value = getattr(out, name)
        assert value.shape == (BATCH,) and torch.isfinite(value).all(), name
    assert out.kl_per_group.shape == (BATCH, groups) and (out.kl_per_group >= 0).all()
    assert out.mean_image.shape == target.shape
    assert out.likelihood_params.shape[0] == BATCH and out.likelihood_params.shape[2:] == target.shape[2:]
    images = model.sample(views, num_samples=2, temperature=0.8)
    assert images.shape == (BATCH, 2, *target.shape[1:])
    assert torch.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fusion_celeba", "fusion_tless"])
def test_large_presets_forward_and_sample(name: str) -> None:
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset(name))
    assert [shape[1] for shape in model.latent_shapes()] == [8] * 2 + [16] * 5 + [32] * 10
    with torch.no_grad():
        for num_views in range(4):
            _check_outputs(model, *_inputs(model.config, num_views))


@pytest.mark.parametrize("name", ["tiny", pytest.param("fusion_mnist", marks=pytest.mark.slow)])
def test_small_presets_forward_backward_and_sample(name: str) -> None:
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset(name))
    for num_views in range(4):
        views, target = _inputs(model.config, num_views)
        _check_outputs(model, views, target)
        model.zero_grad()
        out = model(views, target, progress=0.1)
        (out.loss + model.config.regularization_weight * model.regularization_loss()).backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)


def test_eval_mode_sampling_for_k0_uses_prior_only() -> None:
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset("tiny")).eval()
    views = torch.zeros(3, 0, 1, 16, 16)
    noise = model.draw_noise(3 * 4)
    images = model.sample(views, num_samples=4, noise=noise)
    assert images.shape == (3, 4, 1, 16, 16)
    # Different noise rows give different hypotheses: the learned prior is actually sampled.
    assert not torch.allclose(images[:, 0], images[:, 1])


@pytest.mark.parametrize(
    ("views", "message"),
    [
        (torch.rand(2, 4, 1, 16, 16), "max_views"),
        (torch.rand(2, 1, 3, 16, 16), "image shape"),
        (torch.rand(2, 1, 16, 16), r"\[B, K, C, H, W\]"),
        (torch.zeros(2, 1, 1, 16, 16, dtype=torch.uint8), "float"),
    ],
)
def test_bad_views_raise_clear_errors(views: torch.Tensor, message: str) -> None:
    model = FusionVAE(ModelConfig.preset("tiny"))
    with pytest.raises(ValueError, match=message):
        model.sample(views)


def test_bad_target_and_noise_raise_clear_errors() -> None:
    model = FusionVAE(ModelConfig.preset("tiny"))
    views = torch.rand(2, 1, 1, 16, 16)
    with pytest.raises(ValueError, match="target has shape"):
        model(views, torch.rand(3, 1, 16, 16))
    with pytest.raises(ValueError, match="noise needs 3 tensors"):
        model.sample(views, num_samples=1, noise=model.draw_noise(2)[:2])
    with pytest.raises(ValueError, match="batch·num_samples"):
        model.sample(views, num_samples=2, noise=model.draw_noise(2))
    bad = model.draw_noise(2)
    bad[2] = torch.randn(2, 4, 4, 4)
    with pytest.raises(ValueError, match=r"noise\[2\]"):
        model.sample(views, num_samples=1, noise=bad)
