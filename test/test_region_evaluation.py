"""Region evaluation of real models on real FusionMNIST items: the generated, composited and oracle-composite rows,
the view references, visibility IoU, and ship_model's compositing rule, which must say no for FusionMNIST's noisy
views (compositing copies their noise) and yes for the same views without noise."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from inference_helpers import SHIPPED_CHECKPOINT

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.baselines import ViewReference
from fusionvae_core.data import FusionDataset, build_dataset
from fusionvae_core.evaluation import VIEW_COUNTS, EvaluationSettings, evaluation_batches
from fusionvae_core.region_evaluation import (
    AUSE,
    COMPOSITED,
    GENERATED,
    MSE_MEAN,
    MSE_MIN,
    ORACLE_COMPOSITE,
    REFERENCE,
    SPEARMAN,
    VISIBILITY_IOU,
    RegionResult,
    composite_images,
    evaluate_regions,
)
from fusionvae_core.region_metrics import region_masks, region_mse
from fusionvae_core.region_report import find_value
from fusionvae_core.training import load_trained_model
from training.ship_model import compositing_decision

SETTINGS = EvaluationSettings(batch_size=6, max_items=6, region_samples=3, chunk_size=3)
NOISE_FREE = {"ellipse_windows": {"noise_std": 0.0}}


class NonBlackHead(FusionVAE):
    """A tiny FusionVAE with a stand-in visibility head: a view shows the scene where it is not black (right for
    noise-free windows wherever the digit is; its black background inside a window is missed)."""

    has_visibility_head = True

    def predict_visibility(self, views: torch.Tensor) -> torch.Tensor:
        return (views.amax(dim=2) > 0).float()


@pytest.fixture(scope="module")
def noise_free() -> FusionDataset:
    """FusionMNIST validation items with the MNIST windows but no noise: the views equal the target where shown."""
    return build_dataset("fusion_mnist", "val", occlusion_params=NOISE_FREE)


@pytest.fixture(scope="module")
def results(noise_free: FusionDataset) -> list[RegionResult]:
    torch.manual_seed(0)
    model = NonBlackHead(ModelConfig.preset("tiny", image_size=32)).eval()
    return evaluate_regions([("Tiny", model)], noise_free, SETTINGS, torch.device("cpu"))


def value(results: list[RegionResult], source: tuple[str, str], metric: str, region: str, k: int) -> float | None:
    return find_value(results, *source, metric, region, k)


def test_rows_per_model_output_and_reference_without_object_masks(results: list[RegionResult]) -> None:
    sources = list(dict.fromkeys((r.model, r.output) for r in results))
    assert sources == [
        ("Tiny", GENERATED),
        ("Tiny", COMPOSITED),
        ("Tiny", ORACLE_COMPOSITE),
        ("view mean", REFERENCE),
        ("view median", REFERENCE),
        ("best single view", REFERENCE),
    ]
    assert {r.region for r in results} == {"whole", "hidden"}, "FusionMNIST has no object masks"
    assert {(r.metric, r.k) for r in results if r.model == "Tiny" and r.output == GENERATED} == {
        (metric, k) for metric in (MSE_MEAN, MSE_MIN, SPEARMAN, AUSE) for k in VIEW_COUNTS
    }
    for r in results:
        if r.metric in (MSE_MEAN, MSE_MIN):
            assert r.items == 6 and r.value is not None and r.value >= 0, r
        if r.output == REFERENCE:
            assert r.metric in (MSE_MEAN, MSE_MIN), "references have one image: no uncertainty"
            assert value(results, (r.model, REFERENCE), MSE_MEAN, r.region, r.k) == r.value


def test_oracle_composite_keeps_the_hidden_pixels_and_fixes_the_shown_ones(
    results: list[RegionResult], noise_free: FusionDataset
) -> None:
    for k in VIEW_COUNTS:
        for region in ("hidden", "whole"):
            generated, oracle = (
                value(results, ("Tiny", out), MSE_MEAN, region, k) for out in (GENERATED, ORACLE_COMPOSITE)
            )
            assert generated is not None and oracle is not None
            if region == "hidden" or k == 0:
                assert oracle == pytest.approx(generated, rel=1e-5), "hard labels: hidden pixels stay the hypothesis"
            else:
                assert oracle < generated, "the shown pixels' error is gone"
    ((views, target, visibility, _),) = evaluation_batches(noise_free, SETTINGS, 3)
    hypotheses = torch.rand(6, 2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    composited = composite_images(hypotheses, views, visibility)
    shown = ~region_masks(visibility, None)["hidden"]
    assert shown.any() and region_mse(composited, target, shown).max() < 1e-10, "a view's own pixels where shown"
    hidden = ~shown[:, None, None].expand_as(composited)
    assert torch.equal(composited[hidden], hypotheses[hidden]), "the hypothesis where no view shows the scene"


def test_visibility_iou_and_composited_rows_use_the_model_head(
    results: list[RegionResult], noise_free: FusionDataset
) -> None:
    assert value(results, ("Tiny", COMPOSITED), VISIBILITY_IOU, "whole", 0) is None, "no view, no IoU"
    for k in VIEW_COUNTS[1:]:
        ((views, _, visibility, _),) = evaluation_batches(noise_free, SETTINGS, k)
        shown, label = (views.amax(dim=2) > 0).flatten(1), (visibility >= 0.5).flatten(1)
        assert not (shown & ~label).any(), "noise-free: a non-black view pixel is inside a window"
        expected = (shown.sum(dim=1) / label.sum(dim=1)).mean().item()
        assert value(results, ("Tiny", COMPOSITED), VISIBILITY_IOU, "whole", k) == pytest.approx(expected, rel=1e-6)
    references = [value(results, ("view median", REFERENCE), MSE_MEAN, "whole", k) for k in VIEW_COUNTS]
    ((views, target, *_),) = evaluation_batches(noise_free, SETTINGS, 2)
    by_hand = (ViewReference("mean").predict(views) - target).square().mean().item() * 100
    assert references[2] == pytest.approx(by_hand, rel=1e-5), "two views: the median is their mean, in 1e-2"


@pytest.mark.skipif(not SHIPPED_CHECKPOINT.is_file(), reason=f"no shipped model at {SHIPPED_CHECKPOINT}")
def test_compositing_is_ruled_out_for_noisy_fusion_mnist_even_with_perfect_visibility(
    noise_free: FusionDataset,
) -> None:
    """The shipped FusionMNIST model, composited with the label visibility (a perfect head): on the real, noisy
    views the composite copies noise of std 0.25 and is worse than the generated image, so the rule says off; the
    same model on the same items without noise gains, so the rule says on."""
    model = load_trained_model(SHIPPED_CHECKPOINT).model
    settings = EvaluationSettings(batch_size=12, max_items=12, region_samples=4, chunk_size=4, region_temperature=0.8)
    for dataset, helps in ((build_dataset("fusion_mnist", "val"), False), (noise_free, True)):
        scored = evaluate_regions([("FusionVAE", model)], dataset, settings, torch.device("cpu"))
        decision = compositing_decision(scored, composited=ORACLE_COMPOSITE)
        assert decision.enabled is helps, decision
        pair = decision.figures["whole"]
        assert sorted(decision.figures) == ["whole"] and (pair["composited"] < pair["generated"]) is helps
    assert not compositing_decision(scored).enabled and compositing_decision(scored).figures == {}, "no head: off"


def test_rule_needs_the_object_pixels_too_where_the_data_has_them(tmp_path: Path) -> None:
    def rows(whole: float, objects: float) -> list[RegionResult]:
        return [
            RegionResult("M", output, MSE_MEAN, region, k, 4, figure)
            for k in (1, 2, 3)
            for output, figures in ((GENERATED, (1.0, 1.0)), (COMPOSITED, (whole, objects)))
            for region, figure in zip(("whole", "object"), figures)
        ]

    assert compositing_decision(rows(0.5, 0.9)).enabled
    assert not compositing_decision(rows(0.5, 1.1)).enabled, "better overall but worse on the objects"
    assert compositing_decision(rows(0.5, 0.9)).figures == {
        "whole": {"generated": 1.0, "composited": 0.5},
        "object": {"generated": 1.0, "composited": 0.9},
    }


def test_a_real_visibility_head_gives_the_composited_rows(noise_free: FusionDataset) -> None:
    torch.manual_seed(3)
    model = FusionVAE(ModelConfig.preset("tiny", image_size=32, visibility_head=True)).eval()
    settings = EvaluationSettings(batch_size=4, max_items=4, region_samples=2, chunk_size=2)
    results = evaluate_regions([("Head", model)], noise_free, settings, torch.device("cpu"))
    ((views, _, visibility, _),) = evaluation_batches(noise_free, settings, 2)
    with torch.no_grad():
        predicted = (model.predict_visibility(views) >= 0.5).flatten(1)
    label = (visibility >= 0.5).flatten(1)
    expected = ((predicted & label).sum(dim=1) / (predicted | label).sum(dim=1)).mean().item()
    assert value(results, ("Head", COMPOSITED), VISIBILITY_IOU, "whole", 2) == pytest.approx(expected, rel=1e-6)
    assert value(results, ("Head", COMPOSITED), MSE_MEAN, "whole", 2) is not None
