"""Ellipse-window masks (DESIGN.md §4): the window formula, its statistics, noise level and view independence."""

from __future__ import annotations

import numpy as np
import pytest

from fusionvae_core.data.masks import (
    FUSION_CELEBA_RECIPE,
    FUSION_MNIST_RECIPE,
    MaskRecipe,
    ellipse_window,
    mask_views,
    masked_view,
    sample_window_mask,
)

RECIPES = {"fusion_mnist": (FUSION_MNIST_RECIPE, 32), "fusion_celeba": (FUSION_CELEBA_RECIPE, 64)}


def test_ellipse_window_matches_hand_computed_example() -> None:
    # 7×7 image, centre (row 3, col 3), r = 2, e = 1.44. Inside ⟺ 1.44·dx² + dy²/1.44 <= 4:
    #   dx = 0:  dy² <= 5.76   → dy ∈ {-2..2}  (5 pixels, column 3, rows 1..5)
    #   dx = ±1: dy² <= 3.6864 → dy ∈ {-1..1}  (3 pixels each, columns 2 and 4, rows 2..4)
    #   dx = ±2: 1.44·4 = 5.76 > 4 → none.     Total 11 pixels, taller than wide since e > 1.
    expected = np.zeros((7, 7), dtype=bool)
    expected[1:6, 3] = True
    expected[2:5, 2] = True
    expected[2:5, 4] = True
    np.testing.assert_array_equal(ellipse_window(7, 7, 3, 3, 2, 1.44), expected)
    # Centre in the corner, r = 2, e = 1: the quarter disc dx, dy >= 0, dx² + dy² <= 4 → 6 pixels.
    corner = np.zeros((5, 5), dtype=bool)
    corner[0, :3] = corner[1, :2] = corner[2, 0] = True
    np.testing.assert_array_equal(ellipse_window(5, 5, 0, 0, 2, 1.0), corner)
    # r = 0 keeps exactly the centre pixel (FusionCelebA draws r from [0, 15)).
    assert ellipse_window(5, 5, 2, 1, 0, 0.7).sum() == 1


def expected_visible_fraction(recipe: MaskRecipe, size: int, eccentricity_steps: int = 64) -> float:
    """Exact mean visible fraction: average over all (centre, r, e) of the coverage, by counting offsets.

    For one shape S (set of offsets inside the ellipse), pixel x is covered by a uniform centre c with probability
    #{c in image : x - c ∈ S} / size², computed as Rows @ S @ Cols^T with Rows[x, o] = [0 <= x - o < size].
    Ellipses are independent, so P(visible) = 1 - (1 - p)^n; e is integrated with the midpoint rule.
    """
    radius_extent = int(np.ceil(recipe.radius_high * np.sqrt(recipe.eccentricity_high))) + 1
    offsets = np.arange(-radius_extent, radius_extent + 1)
    valid = ((np.arange(size)[:, None] - offsets[None, :]) >= 0) & (
        (np.arange(size)[:, None] - offsets[None, :]) < size
    )
    valid = valid.astype(np.float64)
    span = recipe.eccentricity_high - recipe.eccentricity_low
    eccentricities = recipe.eccentricity_low + (np.arange(eccentricity_steps) + 0.5) * span / eccentricity_steps
    coverage = np.zeros((size, size))
    shapes = 0
    for radius in range(recipe.radius_low, recipe.radius_high):
        for eccentricity in eccentricities:
            shape = ellipse_window(len(offsets), len(offsets), radius_extent, radius_extent, radius, eccentricity)
            coverage += valid @ shape.astype(np.float64) @ valid.T
            shapes += 1
    per_ellipse = coverage / shapes / size**2
    return float(np.mean(1.0 - (1.0 - per_ellipse) ** recipe.num_ellipses))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_visible_fraction_statistics_match_the_recipe(name: str) -> None:
    recipe, size = RECIPES[name]
    rng = np.random.default_rng(11)
    fractions = np.array([sample_window_mask(rng, size, size, recipe).mean() for _ in range(3000)])
    expected = expected_visible_fraction(recipe, size)
    standard_error = fractions.std() / np.sqrt(len(fractions))
    assert abs(fractions.mean() - expected) < 4 * standard_error + 0.003, (fractions.mean(), expected)
    # Every draw shows at least its centres; no draw exceeds the ellipses' bounding boxes
    # (|dx| <= r/√e, |dy| <= r·√e → at most 4r² + 2r(√e + 1/√e) + 1 <= 4r² + 4.25r + 1 pixels each).
    r_max = recipe.radius_high - 1
    bound = recipe.num_ellipses * (4 * r_max**2 + 4.25 * r_max + 1) / size**2
    assert fractions.min() >= 1 / size**2
    assert fractions.max() <= bound
    print(f"{name}: visible fraction mean {fractions.mean():.3f} (exact {expected:.3f}), std {fractions.std():.3f}")


def test_noise_std_inside_the_window_is_a_quarter() -> None:
    # A constant-0.5 image keeps the noise away from the clip limits for |noise| < 0.5 (2σ), and the median
    # absolute deviation (× 1.4826 for a normal law) only looks at the central half, which clipping never touches.
    rng = np.random.default_rng(5)
    target = np.full((1, 32, 32), 0.5, dtype=np.float32)
    samples = []
    for _ in range(400):
        window = sample_window_mask(rng, 32, 32, FUSION_MNIST_RECIPE)
        view = masked_view(target, window, rng, FUSION_MNIST_RECIPE.noise_std)
        samples.append(view[0][window] - 0.5)
    deviations = np.concatenate(samples)
    assert len(deviations) > 50_000
    assert 1.4826 * np.median(np.abs(deviations)) == pytest.approx(0.25, abs=0.005)
    assert abs(deviations.mean()) < 0.005


def test_mnist_views_are_black_plus_noise_outside_the_window() -> None:
    # On an all-ones target: outside the window a view is clip(N(0, 0.25²)) with mean 0.25·φ(0) ≈ 0.10,
    # inside it is clip(1 + N(0, 0.25²)) with mean ≈ 0.90.
    rng = np.random.default_rng(6)
    target = np.ones((1, 32, 32), dtype=np.float32)
    inside, outside = [], []
    for _ in range(200):
        window = sample_window_mask(rng, 32, 32, FUSION_MNIST_RECIPE)
        view = masked_view(target, window, rng, FUSION_MNIST_RECIPE.noise_std)[0]
        assert view.min() >= 0.0 and view.max() <= 1.0
        inside.append(view[window])
        outside.append(view[~window])
    assert np.concatenate(inside).mean() == pytest.approx(1 - 0.25 / np.sqrt(2 * np.pi), abs=0.01)
    assert np.concatenate(outside).mean() == pytest.approx(0.25 / np.sqrt(2 * np.pi), abs=0.01)


def test_noise_free_views_are_the_target_inside_the_windows_and_black_outside() -> None:
    target = np.random.default_rng(0).random((3, 64, 64)).astype(np.float32)
    views = mask_views(target, np.random.default_rng(9), FUSION_CELEBA_RECIPE)
    replay = np.random.default_rng(9)
    windows = [sample_window_mask(replay, 64, 64, FUSION_CELEBA_RECIPE) for _ in range(3)]
    assert views.shape == (3, 3, 64, 64) and views.dtype == np.float32
    for view, window in zip(views, windows):
        np.testing.assert_array_equal(view, target * window[None])


@pytest.mark.slow
def test_views_of_one_target_are_independent() -> None:
    # With an all-ones target and no noise, each view is its window. Independence means the joint coverage
    # P(pixel in view 1 and view 2) equals P(in view 1)·P(in view 2) pixel by pixel.
    rng = np.random.default_rng(3)
    target = np.ones((1, 64, 64), dtype=np.float32)
    windows = np.stack([mask_views(target, rng, FUSION_CELEBA_RECIPE)[:, 0] for _ in range(3000)])
    first, second, third = windows[:, 0], windows[:, 1], windows[:, 2]
    joint = (first * second).mean()
    product = (first.mean(axis=0) * second.mean(axis=0)).mean()
    assert joint == pytest.approx(product, rel=0.05)
    assert (first * third).mean() == pytest.approx((first.mean(axis=0) * third.mean(axis=0)).mean(), rel=0.05)
    assert first.mean() > 2 * joint  # identical views would give joint == first.mean()
