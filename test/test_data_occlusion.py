"""Occlusion recipes (data/occlusion.py): visible fraction in the documented range at every size, `none` passes
the target through, the datasets' defaults are the paper's recipes, bad params give one clear error."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fusionvae_core.data import DatasetError, build_dataset
from fusionvae_core.data.masks import FUSION_MNIST_RECIPE, EllipseViews
from fusionvae_core.data.occlusion import MNIST_WINDOWS, Occlusion

SIZES = (32, 64, 128)


def write_round_cutouts(folder: Path, count: int = 4) -> Path:
    """RGBA PNG cut-outs of filled discs (alpha 0 outside), of different sizes and colours."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = np.zeros((40 + 10 * i, 40, 4), dtype=np.uint8)
        cv2.circle(image, (20, 20 + 5 * i), 18, (30 * i, 200, 90, 255), thickness=cv2.FILLED)
        cv2.imwrite(str(folder / f"cutout_{i}.png"), image)
    return folder


def mean_visible_fraction(occlusion: Occlusion, size: int, channels: int = 3, draws: int = 100) -> float:
    """Mean fraction of view pixels equal to the target (all channels), over `draws` × 3 views."""
    view_maker = occlusion.view_maker(size, "train")
    rng = np.random.default_rng(0)
    target = np.full((channels, size, size), 0.5, dtype=np.float32)
    target[0] = 0.75  # no occluder colour and no black window equals this
    fractions = [
        (np.abs(view_maker(target, rng).views - target) < 1e-6).all(axis=1).mean(axis=(1, 2)) for _ in range(draws)
    ]
    return float(np.mean(fractions))


@pytest.mark.parametrize(
    ("occlusion", "documented"),
    [
        (Occlusion("ellipse_windows", {**MNIST_WINDOWS, "noise_std": 0.0}), (0.22, 0.28)),
        (Occlusion("ellipse_windows"), (0.15, 0.19)),
        (Occlusion("none"), (1.0, 1.0)),
    ],
    ids=["mnist_windows", "celeba_windows", "none"],
)
def test_visible_fraction_lies_in_the_documented_range_at_every_size(
    occlusion: Occlusion, documented: tuple[float, float]
) -> None:
    for size in SIZES:
        fraction = mean_visible_fraction(occlusion, size)
        assert documented[0] <= fraction <= documented[1], (size, fraction)


@pytest.mark.slow
def test_occluders_visible_fraction_and_grey_targets(tmp_path: Path) -> None:
    occlusion = Occlusion("occluders", {"occluder_dir": str(write_round_cutouts(tmp_path / "cutouts"))})
    for size in SIZES:
        fraction = mean_visible_fraction(occlusion, size)
        assert 0.55 <= fraction <= 0.75, (size, fraction)
    # Grey targets get the occluders' luminance: one channel out, some pixels changed, values in [0, 1].
    views = occlusion.view_maker(32, "val")(
        np.full((1, 32, 32), 0.75, dtype=np.float32), np.random.default_rng(1)
    ).views
    assert views.shape == (3, 1, 32, 32)
    assert views.min() >= 0.0 and views.max() <= 1.0 and (views != 0.75).any()
    fewer = Occlusion("occluders", {"occluder_dir": str(tmp_path / "cutouts"), "per_view": [1, 1]})
    assert mean_visible_fraction(fewer, 64) > 0.85


def test_none_passes_the_target_through_unchanged() -> None:
    target = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    views, visibility = Occlusion("none").view_maker(16, "train")(target, np.random.default_rng(0))
    assert views.shape == (3, 3, 16, 16) and visibility.shape == (3, 16, 16) and (visibility == 1).all()
    for view in views:
        np.testing.assert_array_equal(view, target)


def test_window_radii_scale_with_the_image_and_datasets_keep_the_paper_recipes() -> None:
    assert Occlusion("ellipse_windows", MNIST_WINDOWS).view_maker(32, "val") == EllipseViews(FUSION_MNIST_RECIPE)
    recipe = Occlusion("ellipse_windows").view_maker(128, "val")
    assert isinstance(recipe, EllipseViews)
    assert (recipe.recipe.num_ellipses, recipe.recipe.radius_low, recipe.recipe.radius_high) == (4, 0, 30)
    mnist = build_dataset("fusion_mnist", "val")
    assert mnist.view_maker == EllipseViews(FUSION_MNIST_RECIPE)
    # A config's params apply over the dataset's default recipe; another recipe starts from its own defaults.
    more = build_dataset("fusion_mnist", "val", occlusion_params={"ellipse_windows": {"windows": 5}})
    assert isinstance(more.view_maker, EllipseViews)
    assert (more.view_maker.recipe.num_ellipses, more.view_maker.recipe.noise_std) == (5, 0.25)
    # Params are kept per recipe: switching the recipe leaves the other recipes' params unused.
    windows_params = {"ellipse_windows": {"windows": 5}, "occluders": {"occluder_dir": None}}
    clean = build_dataset("fusion_mnist", "val", occlusion="none", occlusion_params=windows_params)
    np.testing.assert_array_equal(clean[0].views[2].numpy(), clean[0].target.numpy())
    with pytest.raises(DatasetError, match="occlusion_params: 'windows' is no recipe; expected a mapping from"):
        build_dataset("fusion_mnist", "val", occlusion_params={"windows": 5})


@pytest.mark.parametrize(
    ("occlusion", "message"),
    [
        (Occlusion("ellipse_windows", {"windoes": 3}), "occlusion_params.ellipse_windows: unknown key 'windoes'"),
        (Occlusion("ellipse_windows", {"radius": [0.3, 0.1]}), "radius must be"),
        (Occlusion("ellipse_windows", {"windows": "many"}), "windows: expected int"),
        (Occlusion("occluders"), "occluder_dir is required"),
        (Occlusion("occluders", {"occluder_dir": "/nonexistent/cutouts"}), "no occluder folder"),
        (Occlusion("smoke"), "expected one of ellipse_windows, occluders, none"),
    ],
)
def test_bad_recipes_and_params_give_one_clear_error(occlusion: Occlusion, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        occlusion.view_maker(64, "train")


def test_plain_cutout_folders_need_alpha(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "opaque.png"), np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"opaque\.png: expected an RGBA PNG"):
        Occlusion("occluders", {"occluder_dir": str(tmp_path)}).view_maker(64, "train")
