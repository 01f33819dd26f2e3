"""Region metrics on hand-made tensors whose answers are worked out by hand: object and hidden regions, empty
regions left out, the view references, uncertainty quality (Spearman, AUSE) and visibility IoU."""

from __future__ import annotations

import math

import pytest
import torch

from fusionvae_core.baselines import ViewReference
from fusionvae_core.region_metrics import (
    ause,
    average_ranks,
    mean_and_min_mse,
    oracle_pick,
    region_masks,
    scored_mean,
    sparsification_curve,
    spearman,
    visibility_iou,
)


def toy_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two 2×2 grey items with a black target: hypotheses [2, 2, 1, 2, 2], target, visibility of K = 2 views and
    object masks. Item 0 (worked out in the test): two hypotheses, objects in the left column, views showing the top
    row. Item 1: perfect hypotheses, no object pixel, every pixel shown (both its object and hidden regions empty)."""
    hypotheses = torch.zeros(2, 2, 1, 2, 2)
    hypotheses[0, 0, 0] = torch.tensor([[0.2, 0.0], [0.4, 0.0]])
    hypotheses[0, 1, 0] = torch.tensor([[0.0, 0.0], [0.0, 0.6]])
    target = torch.zeros(2, 1, 2, 2)
    visibility = torch.zeros(2, 2, 2, 2)
    visibility[0, 0, 0, :] = 1.0  # view 0 shows the top row
    visibility[0, 1, 0, 1] = 0.7  # view 1 the top-right pixel
    visibility[0, 1, 1, 1] = 0.4  # and half-shows the bottom-right one: below 0.5, not shown
    visibility[1] = 1.0
    objects = torch.zeros(2, 2, 2, dtype=torch.bool)
    objects[0, :, 0] = True
    return hypotheses, target, visibility, objects


def test_object_hidden_and_whole_region_errors_match_the_hand_computed_values() -> None:
    hypotheses, target, visibility, objects = toy_batch()
    masks = region_masks(visibility, objects)
    assert masks["hidden"][0].tolist() == [[False, False], [True, True]] and not masks["hidden"][1].any()
    # item 0: mean image [[0.1, 0], [0.2, 0.3]]; hypothesis 0 errs 0.04, 0.16 (left column), hypothesis 1 0.36
    expected = {  # region: (mean-image MSE, MSE_min) of item 0
        "whole": ((0.01 + 0.04 + 0.09) / 4, min((0.04 + 0.16) / 4, 0.36 / 4)),
        "object": ((0.01 + 0.04) / 2, min((0.04 + 0.16) / 2, 0.0)),
        "hidden": ((0.04 + 0.09) / 2, min(0.16 / 2, 0.36 / 2)),
    }
    for region, (mean_image, lowest) in expected.items():
        means, lows = mean_and_min_mse(hypotheses, target, masks[region])
        assert means[0].item() == pytest.approx(mean_image) and lows[0].item() == pytest.approx(lowest), region
        if region == "whole":
            assert means[1].item() == 0.0 and lows[1].item() == 0.0
        else:  # item 1's region is empty: it has no value and is not scored
            assert means[1].isnan() and lows[1].isnan()
            assert scored_mean(means) == (pytest.approx(mean_image), 1)
    assert scored_mean(torch.tensor([math.nan, math.nan])) == (None, 0)


def test_every_pixel_is_hidden_without_views_and_object_masks_are_optional() -> None:
    masks = region_masks(torch.zeros(3, 0, 4, 4), None)
    assert sorted(masks) == ["hidden", "whole"] and masks["hidden"].all() and masks["whole"].all()


def test_view_median_is_the_middle_view_or_the_mean_of_the_two_middle_ones() -> None:
    views = torch.tensor([0.9, 0.1, 0.4]).view(1, 3, 1, 1, 1).expand(1, 3, 1, 2, 2).contiguous()
    median = ViewReference("median")
    assert median.predict(views).flatten().tolist() == pytest.approx([0.4] * 4)
    assert median.predict(views[:, :2]).flatten().tolist() == pytest.approx([0.5] * 4), "two views: their mean"
    assert median.predict(views[:, :1]).flatten().tolist() == pytest.approx([0.9] * 4), "one view: the view"
    four = torch.tensor([0.9, 0.1, 0.4, 0.2]).view(1, 4, 1, 1, 1)
    assert median.predict(four).item() == pytest.approx(0.3), "unlike torch.median, not the lower middle value"
    assert not median.predict(views[:, :0]).any() and median.candidates(views).shape == (1, 1, 1, 2, 2)


def test_best_single_view_is_an_oracle_pick_per_item_and_region() -> None:
    target = torch.zeros(2, 1, 2, 2)
    views = torch.zeros(2, 3, 1, 2, 2)
    views[0, 0, 0, 0] = 0.5  # item 0: view 0 wrong in the top row, view 1 in the bottom row, view 2 everywhere
    views[0, 1, 0, 1] = 0.5
    views[0, 2] = 0.2
    views[1, 1] = 1.0  # item 1: views 0 and 2 are perfect
    best = ViewReference("best_view")
    candidates = best.candidates(views)
    assert torch.equal(candidates, views), "the oracle chooses among the views themselves"
    top_row = torch.tensor([[True, True], [False, False]]).expand(2, 2, 2)
    whole = torch.ones(2, 2, 2, dtype=torch.bool)
    assert mean_and_min_mse(candidates, target, whole)[1].tolist() == pytest.approx([0.04, 0.0])
    assert mean_and_min_mse(candidates, target, top_row)[1].tolist() == pytest.approx([0.0, 0.0]), "view 1 there"
    assert torch.equal(oracle_pick(candidates, target), torch.stack([views[0, 2], views[1, 0]]))
    assert best.candidates(views[:, :0]).shape == (2, 1, 1, 2, 2) and not best.candidates(views[:, :0]).any()
    with pytest.raises(ValueError, match="picks a view by the target"):
        best.predict(views)


def test_tied_values_share_their_average_rank() -> None:
    ranks = average_ranks(torch.tensor([[3.0, 1.0, 3.0, 2.0, 3.0]]))
    assert ranks.tolist() == [[3.0, 0.0, 3.0, 1.0, 3.0]]


def test_rank_correlation_has_the_sign_of_the_relation_and_ignores_scale() -> None:
    error = torch.rand(3, 50, generator=torch.Generator().manual_seed(0))
    spread = torch.stack([error[0].sqrt(), -error[1], torch.ones(50)])  # monotone, reversed, constant
    rho = spearman(spread, error)
    assert rho[0].item() == pytest.approx(1.0) and rho[1].item() == pytest.approx(-1.0) and rho[2].isnan()
    noisy = error[:1] + 0.3 * torch.rand(1, 50, generator=torch.Generator().manual_seed(1))
    assert 0 < spearman(noisy, error[:1]).item() < 1


def test_ause_is_zero_for_a_perfect_uncertainty_and_positive_for_a_reversed_one() -> None:
    error = torch.rand(2, 400, generator=torch.Generator().manual_seed(2))
    assert ause(error.sqrt(), error).tolist() == [0.0, 0.0], "spread ordering the pixels as their errors"
    reversed_ = ause(-error, error)
    assert (reversed_ > 0.5).all(), reversed_
    random = ause(torch.rand(2, 400, generator=torch.Generator().manual_seed(3)), error)
    assert (random > 0).all() and (random < reversed_).all()
    assert ause(torch.rand(1, 400), torch.zeros(1, 400)).isnan(), "no error: nothing to sparsify"


def test_sparsification_curve_removes_the_largest_first() -> None:
    error = torch.tensor([[4.0, 1.0, 3.0, 2.0]])
    by_error = sparsification_curve(error, error, steps=4)
    assert by_error.tolist() == [[2.5, 2.0, 1.5, 1.0]]  # remaining mean after removing 0, 1, 2, 3 pixels
    assert sparsification_curve(error, -error, steps=4).tolist() == [[2.5, 3.0, 3.5, 4.0]]


def test_visibility_iou_counts_the_pixels_shown_in_every_view() -> None:
    label = torch.zeros(2, 2, 2, 2)
    label[0, 0, 0] = 1.0  # item 0: view 0 shows its top row (2 pixels), view 1 nothing
    predicted = torch.zeros(2, 2, 2, 2)
    predicted[0, 0, 0, 0] = 0.9  # one of them found
    predicted[0, 1, 1, 1] = 0.5  # and one false alarm in view 1 (0.5 counts as shown)
    predicted[1, 0, 0, 0] = 0.49  # item 1: nothing shown, nothing predicted (0.49 is below)
    iou = visibility_iou(predicted, label)
    assert iou[0].item() == pytest.approx(1 / 3) and iou[1].isnan()
