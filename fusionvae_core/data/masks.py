"""Ellipse-window masks of FusionMNIST and FusionCelebA (DESIGN.md §4, paper sec. 5.1).

Every view is black except inside a union of random ellipses (windows, not occluders). Per ellipse the centre
is a uniform pixel of the image, the radius r a uniform integer in [low, high), the eccentricity e ~ U[0.5, 1.5),
and a pixel (row, col) is inside where sqrt(e·dx² + dy²/e) <= r with dx = col - centre_col, dy = row - centre_row.
FusionMNIST then adds Gaussian noise (std 0.25) to the whole view and clips it to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusionvae_core.data.visibility import MadeViews


@dataclass(frozen=True)
class MaskRecipe:
    """How one masked view is drawn: ellipse count, radius range [low, high), eccentricity range, noise std."""

    num_ellipses: int
    radius_low: int
    radius_high: int
    noise_std: float = 0.0
    eccentricity_low: float = 0.5
    eccentricity_high: float = 1.5


FUSION_MNIST_RECIPE = MaskRecipe(num_ellipses=2, radius_low=5, radius_high=10, noise_std=0.25)
FUSION_CELEBA_RECIPE = MaskRecipe(num_ellipses=4, radius_low=0, radius_high=15, noise_std=0.0)


def ellipse_window(
    height: int, width: int, centre_row: int, centre_col: int, radius: float, eccentricity: float
) -> np.ndarray:
    """Boolean [height, width] map of the pixels inside one ellipse window (formula in the module docstring)."""
    dy = np.arange(height, dtype=np.float64)[:, None] - centre_row
    dx = np.arange(width, dtype=np.float64)[None, :] - centre_col
    return np.asarray(np.sqrt(eccentricity * dx**2 + dy**2 / eccentricity) <= radius)


def sample_window_mask(rng: np.random.Generator, height: int, width: int, recipe: MaskRecipe) -> np.ndarray:
    """Draw a boolean [height, width] union of `recipe.num_ellipses` random ellipse windows."""
    window = np.zeros((height, width), dtype=bool)
    for _ in range(recipe.num_ellipses):
        centre_row = int(rng.integers(0, height))
        centre_col = int(rng.integers(0, width))
        radius = int(rng.integers(recipe.radius_low, recipe.radius_high))
        eccentricity = float(rng.uniform(recipe.eccentricity_low, recipe.eccentricity_high))
        window |= ellipse_window(height, width, centre_row, centre_col, radius, eccentricity)
    return window


def masked_view(target: np.ndarray, window: np.ndarray, rng: np.random.Generator, noise_std: float) -> np.ndarray:
    """Black out `target` [C,H,W] outside `window` [H,W], then add N(0, noise_std²) noise and clip to [0, 1]."""
    view = target * window[None, :, :]
    if noise_std > 0:
        view = np.clip(view + rng.normal(0.0, noise_std, size=view.shape), 0.0, 1.0)
    return view.astype(np.float32)


def mask_views(target: np.ndarray, rng: np.random.Generator, recipe: MaskRecipe, num_views: int = 3) -> np.ndarray:
    """Independently masked views [num_views, C, H, W] float32 of one target [C, H, W] in [0, 1] (pure numpy)."""
    return windowed_views(target, rng, recipe, num_views).views


def windowed_views(target: np.ndarray, rng: np.random.Generator, recipe: MaskRecipe, num_views: int) -> MadeViews:
    """`mask_views` with each view's window as its visibility label (inside = the view shows the scene)."""
    _, height, width = target.shape
    views, windows = [], []
    for _ in range(num_views):
        window = sample_window_mask(rng, height, width, recipe)
        views.append(masked_view(target, window, rng, recipe.noise_std))
        windows.append(window)
    return MadeViews(np.stack(views), np.stack(windows).astype(np.float32))


@dataclass(frozen=True)
class EllipseViews:
    """View maker of the ellipse-window datasets: `views, visibility = EllipseViews(recipe)(target, rng)`."""

    recipe: MaskRecipe
    num_views: int = 3

    def __call__(self, target: np.ndarray, rng: np.random.Generator) -> MadeViews:
        """`num_views` independently masked views [V, C, H, W] of `target` [C, H, W] and their windows [V, H, W]."""
        return windowed_views(target, rng, self.recipe, self.num_views)
