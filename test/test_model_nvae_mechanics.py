"""NVAE mechanics of the model: FactorizedReduce skips, channels_last equivalence and the crop-aware NLL."""

from __future__ import annotations

import math

import pytest
import torch

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.metrics import nll_bpd
from fusionvae_core.model.cells import EncoderCell, FactorizedReduce
from fusionvae_core.model.likelihoods import BernoulliLikelihood, sum_inside


def test_factorized_reduce_passes_every_input_pixel_on() -> None:
    torch.manual_seed(0)
    reduce = FactorizedReduce(8, 16)
    x = torch.randn(2, 8, 8, 8, requires_grad=True)
    out = reduce(x)
    assert out.shape == (2, 16, 4, 4)
    out.square().sum().backward()
    assert x.grad is not None
    assert (x.grad.abs() > 0).all(), "every input pixel and channel must reach the output through the skip"


def test_strided_one_by_one_conv_would_miss_pixels() -> None:
    """The control for the test above: the old skip (stride-2 1x1 conv) reads one pixel in four."""
    conv = torch.nn.Conv2d(8, 16, 1, stride=2)
    x = torch.randn(2, 8, 8, 8, requires_grad=True)
    conv(x).square().sum().backward()
    assert x.grad is not None
    assert (x.grad.abs() > 0).float().mean().item() == pytest.approx(0.25)


def test_downsampling_encoder_cell_uses_factorized_reduce() -> None:
    cell = EncoderCell(8, 16, stride=2)
    assert isinstance(cell.skip, FactorizedReduce)
    assert cell(torch.randn(2, 8, 8, 8)).shape == (2, 16, 4, 4)


# channels_last and contiguous run different kernels (float32 sums in another order). Measured on this batch (torch
# 2.13 CPU): identical losses, gradient differences <= 9e-8 of the largest gradient entry; the bounds leave ~10x.
@pytest.mark.slow
@pytest.mark.parametrize("num_views", [0, 3])
def test_channels_last_gives_the_same_loss_and_gradients(num_views: int, make_batch) -> None:  # type: ignore[no-untyped-def]
    views, target = make_batch(4, num_views, size=32)
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = FusionVAE(ModelConfig.preset("fusion_mnist"))
        if channels_last:
            model.channels_last()
            assert model.encoder.stem.weight.is_contiguous(memory_format=torch.channels_last)
        noise = [
            torch.randn(4, *shape, generator=torch.Generator().manual_seed(i))
            for i, shape in enumerate(model.latent_shapes())
        ]
        out = model(views, target, progress=0.1, noise=noise)
        loss = out.loss + 1e-2 * model.regularization_loss()
        loss.backward()
        results.append(
            (
                loss.detach(),
                {n: torch.zeros_like(p) if p.grad is None else p.grad.clone() for n, p in model.named_parameters()},
            )
        )
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-6, atol=0.0)
    largest = max(grad.abs().max().item() for grad in grads_a.values())
    worst = max((grads_b[name] - grad).abs().max().item() for name, grad in grads_a.items())
    assert worst <= 1e-6 * largest, f"largest gradient {largest:.3g}, worst difference {worst:.3g}"


def test_sum_inside_leaves_out_the_border() -> None:
    per_pixel = torch.ones(2, 1, 32, 32)
    assert sum_inside(per_pixel, 0).tolist() == [1024.0, 1024.0]
    assert sum_inside(per_pixel, 2).tolist() == [784.0, 784.0]
    with pytest.raises(ValueError, match="border"):
        sum_inside(per_pixel, 16)


def test_crop_nll_is_the_full_nll_rescaled_when_the_border_costs_nothing() -> None:
    """Toy likelihood: logits certain of the zero border, so the border contributes ~0 nats; then the cropped sum
    equals the full sum and bits/dim scale by 1024 / 784."""
    likelihood = BernoulliLikelihood(1)
    target = torch.zeros(3, 1, 32, 32)
    target[:, :, 2:30, 2:30] = torch.rand(3, 1, 28, 28)
    logits = torch.full_like(target, -60.0)  # sigmoid(-60) ~ 1e-26: the border pixel 0 has probability ~1
    logits[:, :, 2:30, 2:30] = torch.randn(3, 1, 28, 28)
    full, cropped = likelihood.nll(logits, target), likelihood.nll(logits, target, border=2)
    torch.testing.assert_close(cropped, full, rtol=1e-6, atol=1e-6)
    full_bpd, crop_bpd = full / (1024 * math.log(2)), cropped / (784 * math.log(2))
    torch.testing.assert_close(crop_bpd, full_bpd * 1024 / 784)


def test_nll_bpd_with_border_divides_by_the_inner_pixels(make_batch) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset("tiny"))
    views, target = make_batch(2, 2, size=16)
    full = nll_bpd(model, views, target, num_importance=1)
    inner = nll_bpd(model, views, target, num_importance=1, border=2)
    assert full.shape == inner.shape == (2,)
    # same samples, only the recon term's pixels and the divisor differ; the inner 12×12 has fewer dimensions
    assert not torch.allclose(full, inner)
    assert torch.isfinite(inner).all() and (inner > 0).all()
