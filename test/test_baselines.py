"""Baselines of paper sec. 5.3 (FCN, FCN+S, CVAE, CVAE+S) and the mean/max view references.

Sizes are FusionVAE's ±15 % per preset, every network trains (forward + backward) for K = 0..3, the FCN is
deterministic, the CVAE's importance weights agree with its forward pass, and the references fuse present views.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.baselines import (
    BASELINE_KINDS,
    PARAMETER_TOLERANCE,
    BaselineConfig,
    ConditionalVAE,
    FullyConvolutionalNet,
    ViewReference,
    build_baseline,
    sized_baseline_config,
)

pytestmark = pytest.mark.slow

Batch = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@pytest.mark.parametrize("preset", ["tiny", "fusion_mnist"])
def test_auto_sized_baselines_have_fusionvae_parameter_count_within_15_percent(preset: str) -> None:
    # fusion_celeba / fusion_tless (~50 M parameters) take minutes to build on 2 cores; their sizing uses the same code.
    assert PARAMETER_TOLERANCE <= 0.15, "the issue asks for ±15 %"
    config = ModelConfig.preset(preset)
    reference = FusionVAE(config).num_parameters()
    for kind in BASELINE_KINDS:
        baseline = build_baseline(sized_baseline_config(kind, config))
        count = sum(p.numel() for p in baseline.parameters() if p.requires_grad)
        assert abs(count - reference) <= PARAMETER_TOLERANCE * reference, (preset, kind, count, reference)
        smaller = build_baseline(BaselineConfig(kind, config, max(1, baseline.baseline_config.width // 2)))
        assert smaller.num_parameters() < 0.5 * count, "the width must control the size"


@pytest.mark.parametrize("kind", BASELINE_KINDS)
def test_every_baseline_trains_for_zero_to_three_views(kind: str, make_batch: Batch) -> None:
    torch.manual_seed(0)
    model = build_baseline(BaselineConfig(kind, ModelConfig.preset("tiny"), 6))
    optimizer = torch.optim.Adamax(model.parameters(), lr=1e-2)
    for k in range(4):
        views, target = make_batch(3, k, seed=k)
        before = [p.detach().clone() for p in model.parameters()]
        out = model(views, target, progress=0.5)
        assert out.recon_nll.shape == (3,) and torch.isfinite(out.loss)
        assert out.kl_per_group.shape == ((3, 1) if kind.startswith("cvae") else (3, 0))
        optimizer.zero_grad()
        (out.loss + 1e-2 * model.regularization_loss()).backward()
        grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        optimizer.step()
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), f"no update for K={k}"
        samples = model.sample(views, num_samples=2)
        assert samples.shape == (3, 2, 1, 16, 16) and samples.min() >= 0 and samples.max() <= 1


@pytest.mark.parametrize("kind", ["fcn", "fcn_s"])
def test_fcn_is_deterministic(kind: str, make_batch: Batch) -> None:
    torch.manual_seed(0)
    model = build_baseline(BaselineConfig(kind, ModelConfig.preset("tiny"), 6)).eval()
    assert isinstance(model, FullyConvolutionalNet) and model.deterministic
    views, _ = make_batch(2, 2)
    with torch.no_grad():
        first = model.predict(views)
        torch.manual_seed(123)
        second = model.predict(views)
        samples = model.sample(views, num_samples=3)
    assert torch.equal(first, second)
    assert all(torch.equal(samples[:, s], first) for s in range(3))


def test_skip_connections_change_the_prediction(make_batch: Batch) -> None:
    torch.manual_seed(0)
    config = ModelConfig.preset("tiny")
    views, _ = make_batch(2, 2)
    plain = build_baseline(BaselineConfig("fcn", config, 6)).eval()
    skip = build_baseline(BaselineConfig("fcn_s", config, 6)).eval()
    skip.load_state_dict(plain.state_dict())  # same weights: the skip connections are the only difference
    with torch.no_grad():
        assert not torch.allclose(plain.predict(views), skip.predict(views))


@pytest.mark.parametrize("kind", ["cvae", "cvae_s"])
def test_cvae_importance_weight_of_one_sample_equals_its_forward_log_weight(kind: str, make_batch: Batch) -> None:
    torch.manual_seed(0)
    model = build_baseline(BaselineConfig(kind, ModelConfig.preset("tiny"), 6)).eval()
    assert isinstance(model, ConditionalVAE)
    views, target = make_batch(3, 2, seed=4)
    noise = [torch.randn(3, *shape) for shape in model.latent_shapes()]
    with torch.no_grad():
        out = model(views, target, noise=noise)
        weights = model.importance_log_weights(views, target, noise)
    torch.testing.assert_close(weights[:, 0], out.log_weight)
    torch.testing.assert_close(out.elbo, -out.recon_nll - out.kl_per_group[:, 0])


def test_view_references_fuse_present_views_pixel_wise() -> None:
    views = torch.rand(2, 3, 1, 4, 4)
    torch.testing.assert_close(ViewReference("mean").predict(views), (views[:, 0] + views[:, 1] + views[:, 2]) / 3)
    torch.testing.assert_close(
        ViewReference("max").predict(views), torch.maximum(torch.maximum(views[:, 0], views[:, 1]), views[:, 2])
    )
    two = views[:, :2]
    torch.testing.assert_close(ViewReference("mean").predict(two), (two[:, 0] + two[:, 1]) / 2)
    for method in ("mean", "max"):
        empty = ViewReference(method).predict(views[:, :0])
        assert empty.shape == (2, 1, 4, 4) and not empty.any(), "no views: a black image"
    with pytest.raises(ValueError, match="method must be one of"):
        ViewReference("mode")


def test_baseline_config_round_trips_and_rejects_bad_fields() -> None:
    config = sized_baseline_config("cvae_s", ModelConfig.preset("tiny"))
    assert BaselineConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="kind"):
        BaselineConfig("unet", ModelConfig.preset("tiny"), 4)
    with pytest.raises(ValueError, match="width"):
        BaselineConfig("fcn", ModelConfig.preset("tiny"), 0)
    with pytest.raises(ValueError, match="expects keys"):
        BaselineConfig.from_dict({"kind": "fcn"})
