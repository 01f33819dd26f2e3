"""Compositing: visible view pixels are kept, hidden ones come from the hypothesis, spread vanishes where seen."""

from __future__ import annotations

import numpy as np
import pytest

from fusionvae_core.compositing import blend_views, composite, composite_std


def scene(dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two views [2,8,8,3] (dtype), their visibility [2,8,8] with hard and soft regions, and two hypotheses."""
    rng = np.random.default_rng(0)
    views = rng.integers(0, 256, (2, 8, 8, 3)).astype(dtype)
    hypotheses = rng.integers(0, 256, (2, 8, 8, 3)).astype(dtype)
    if dtype is np.float32:
        views, hypotheses = views / 255.0, hypotheses / 255.0
    visibility = np.zeros((2, 8, 8), dtype=np.float32)
    visibility[0, :4] = 1.0  # view 0 shows the top half
    visibility[1, :, :2] = 1.0  # view 1 shows the left columns (overlapping view 0 in the top-left corner)
    visibility[1, 6:, 4:] = 0.5  # and half-shows a bottom-right patch
    return views, visibility, hypotheses


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_visible_pixels_are_the_view_and_hidden_pixels_the_hypothesis(dtype: type) -> None:
    views, visibility, hypotheses = scene(dtype)
    blend = blend_views(views, visibility)
    out = composite(hypotheses, blend)
    assert out.dtype == dtype and out.shape == hypotheses.shape
    only_view_0 = (visibility[0] == 1) & (visibility[1] == 0)
    only_view_1 = (visibility[1] == 1) & (visibility[0] == 0)
    hidden = (visibility == 0).all(axis=0)
    for hypothesis, composed in zip(hypotheses, out):
        np.testing.assert_allclose(composed[only_view_0], views[0][only_view_0], atol=1e-6)
        np.testing.assert_allclose(composed[only_view_1], views[1][only_view_1], atol=1e-6)
        np.testing.assert_allclose(composed[hidden], hypothesis[hidden], atol=1e-6)
    both = (visibility == 1).all(axis=0)  # two views showing a pixel equally surely: the first (camera 0) keeps it
    for composed in out:
        np.testing.assert_allclose(composed[both], views[0][both], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_soft_visibility_blends_and_the_spread_follows_the_coverage(dtype: type) -> None:
    views, visibility, hypotheses = scene(dtype)
    blend = blend_views(views, visibility)
    out = composite(hypotheses, blend)
    patch = (slice(6, 8), slice(4, 8))
    expected = 0.5 * views[1][patch].astype(np.float32) + 0.5 * hypotheses[0][patch].astype(np.float32)
    np.testing.assert_allclose(out[0][patch], expected, atol=0.5 if dtype is np.uint8 else 1e-6)
    if dtype is np.uint8:
        return
    std = np.ones((8, 8), dtype=np.float32)
    spread = composite_std(std, blend)
    assert (spread[visibility.max(axis=0) == 1] == 0).all()
    assert (spread[(visibility == 0).all(axis=0)] == 1).all()
    np.testing.assert_allclose(spread[patch], 0.5)


def test_no_visible_view_leaves_the_hypotheses_unchanged() -> None:
    views, _, hypotheses = scene(np.uint8)
    blend = blend_views(views, np.zeros((2, 8, 8), dtype=np.float32))
    np.testing.assert_array_equal(composite(hypotheses, blend), hypotheses)
    with pytest.raises(ValueError, match="visibility"):
        blend_views(views, np.zeros((3, 8, 8), dtype=np.float32))


def test_the_most_likely_view_gives_the_colour_and_grey_images_keep_their_shape() -> None:
    views = np.stack([np.full((4, 4, 1), value, dtype=np.uint8) for value in (10, 200)])
    visibility = np.stack([np.full((4, 4), 0.6, np.float32), np.full((4, 4), 0.9, np.float32)])
    blend = blend_views(views, visibility)
    assert blend.colour.shape == (4, 4, 1) and (blend.colour == 200).all(), "view 1 more likely shows the scene"
    np.testing.assert_allclose(blend.coverage, 1 - 0.4 * 0.1)
    out = composite(np.zeros((2, 4, 4, 1), np.uint8), blend)
    assert out.shape == (2, 4, 4, 1) and (out == round(0.96 * 200)).all()


def test_without_views_the_hypotheses_stay() -> None:
    hypotheses = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    blend = blend_views(np.zeros((0, 8, 8, 3), np.uint8), np.zeros((0, 8, 8), np.float32))
    np.testing.assert_array_equal(composite(hypotheses, blend), hypotheses)
    np.testing.assert_array_equal(composite(hypotheses / 255.0, blend), hypotheses / 255.0)
