"""Occlusion recipes: how the 3 input views of a target are corrupted; one implementation for every dataset.

A training config picks the recipe with `data.occlusion` and tunes each recipe under `data.occlusion_params`,
a mapping from recipe name to its params (keys below), so a config can hold params for several recipes and switch
between them with `data.occlusion` alone. Every parameter that is a length is a fraction of the image side, so
one recipe looks the same at 32², 64² and 128². Each dataset has a default (FusionMNIST: the MNIST windows,
FusionCelebA / image_folder / rosbag: the CelebA windows, FusionT-LESS: occluders); params given in the config
override the default recipe's params.

- `ellipse_windows` (paper sec. 5.1): each view is black except inside `windows` random ellipses whose radius is
  a uniform integer in [radius[0]·size, radius[1]·size); then Gaussian noise of std `noise_std`, clipped.
  Params: windows (int), radius ([low, high] fractions), noise_std. MNIST windows: 2, [5/32, 10/32], 0.25;
  CelebA windows: 4, [0, 15/64], 0. Visible fraction per view (mean over many views, any size 32–128):
  MNIST windows 0.22–0.28, CelebA windows 0.15–0.19.
- `occluders` (FusionT-LESS, sec. 5.2, generalised): each view is the target with per_view[0]–per_view[1]
  cut-outs pasted over it, each randomly flipped, rotated, scaled by 0.5–1 and placed anywhere. Params:
  occluder_dir (a folder of RGBA PNGs, alpha 0 outside the object, or the output of
  `python -m fusionvae_core.data.tless_occluders`), per_view ([low, high], default [5, 8]), size (longest side
  of a plain-folder cut-out before the random scale, as a fraction of the image side; default 0.5). Visible
  fraction: depends on the cut-outs' shapes; 0.55–0.75 for round cut-outs at the default size and count
  (sizes 32–128, test/test_data_occlusion.py).
- `none`: every view is the target itself (visible fraction 1), e.g. to train a plain prior; with a rosbag's
  `data.target_topic` the bag's recorded, already occluded views pass through instead (rosbag_frames.py).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.fusion_dataset import NUM_VIEWS, ViewMaker
from fusionvae_core.data.masks import FUSION_CELEBA_RECIPE, FUSION_MNIST_RECIPE, EllipseViews, MaskRecipe
from fusionvae_core.data.occluders import (
    DEFAULT_OCCLUDER_SIZE,
    OCCLUDER_COUNT_RANGE,
    OccludedViews,
    load_occluders,
    occluder_part,
)
from fusionvae_core.data.visibility import MadeViews

OCCLUSION_RECIPES = ("ellipse_windows", "occluders", "none")


@dataclass(frozen=True)
class WindowParams:
    """`ellipse_windows`: number of windows, radius range [low, high) as fractions of the side, noise std."""

    windows: int = FUSION_CELEBA_RECIPE.num_ellipses
    radius: tuple[float, float] = (0.0, 15 / 64)
    noise_std: float = 0.0

    def check(self) -> str | None:
        """Why these params are invalid, or None."""
        if self.windows < 1:
            return f"windows must be >= 1, got {self.windows}"
        if not 0.0 <= self.radius[0] < self.radius[1]:
            return f"radius must be [low, high] with 0 <= low < high, got {list(self.radius)}"
        if self.noise_std < 0:
            return f"noise_std must be >= 0, got {self.noise_std}"
        return None

    def mask_recipe(self, image_size: int) -> MaskRecipe:
        """The pixel-unit recipe at `image_size` (at least one radius value, so the range is never empty)."""
        low = round(self.radius[0] * image_size)
        high = max(low + 1, round(self.radius[1] * image_size))
        return MaskRecipe(num_ellipses=self.windows, radius_low=low, radius_high=high, noise_std=self.noise_std)

    def view_maker(self, image_size: int, split: str) -> ViewMaker:
        """Ellipse-window views at `image_size`."""
        return EllipseViews(self.mask_recipe(image_size))


@dataclass(frozen=True)
class OccluderParams:
    """`occluders`: cut-out folder, occluders per view [low, high] and plain-folder cut-out size (fraction)."""

    occluder_dir: str | None = None
    per_view: tuple[int, int] = OCCLUDER_COUNT_RANGE
    size: float = DEFAULT_OCCLUDER_SIZE

    def check(self) -> str | None:
        """Why these params are invalid, or None."""
        if self.occluder_dir is None:
            return "occluder_dir is required: a folder of RGBA PNG cut-outs (alpha 0 outside the object)"
        if not 0 <= self.per_view[0] <= self.per_view[1]:
            return f"per_view must be [low, high] with 0 <= low <= high, got {list(self.per_view)}"
        if not 0.0 < self.size <= 2.0:
            return f"size must lie in (0, 2], got {self.size}"
        return None

    def view_maker(self, image_size: int, split: str) -> ViewMaker:
        """Occluded views at `image_size` with the cut-outs of `split`'s part."""
        assert self.occluder_dir is not None  # check() ran first
        occluders = load_occluders(Path(self.occluder_dir).expanduser(), occluder_part(split), image_size, self.size)
        return OccludedViews(occluders, count_range=self.per_view)


@dataclass(frozen=True)
class NoParams:
    """`none` takes no params."""

    def check(self) -> str | None:
        """Always valid."""
        return None

    def view_maker(self, image_size: int, split: str) -> ViewMaker:
        """Views that are the target itself."""
        return PassThroughViews()


@dataclass(frozen=True)
class PassThroughViews:
    """View maker of the `none` recipe: every view is an unchanged copy of the target."""

    num_views: int = NUM_VIEWS

    def __call__(self, target: np.ndarray, rng: np.random.Generator) -> MadeViews:
        """`num_views` copies of `target` [C,H,W] as [V,C,H,W], visible everywhere."""
        views = np.repeat(target[None], self.num_views, axis=0)
        return MadeViews(views, np.ones((self.num_views, *target.shape[1:]), dtype=np.float32))


RecipeParams = WindowParams | OccluderParams | NoParams
_PARAM_TYPES: dict[str, type[RecipeParams]] = {
    "ellipse_windows": WindowParams,
    "occluders": OccluderParams,
    "none": NoParams,
}
MNIST_WINDOWS: dict[str, Any] = {
    "windows": FUSION_MNIST_RECIPE.num_ellipses,
    "radius": [FUSION_MNIST_RECIPE.radius_low / 32, FUSION_MNIST_RECIPE.radius_high / 32],
    "noise_std": FUSION_MNIST_RECIPE.noise_std,
}


@dataclass(frozen=True)
class Occlusion:
    """A recipe name with its params (a dataset's default, or what a config asks for)."""

    recipe: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def overridden(self, recipe: str | None, params_by_recipe: Mapping[str, Any] | None) -> Occlusion:
        """This default with a config's choice: the chosen recipe's params (from the {recipe: params} mapping) apply
        over the default's params when the recipe is the default's; DatasetError for a key that is no recipe."""
        params_by_recipe = params_by_recipe or {}
        unknown = sorted(set(params_by_recipe) - set(OCCLUSION_RECIPES))
        if unknown:
            raise DatasetError(
                f"data.occlusion_params: {unknown[0]!r} is no recipe; expected a mapping from "
                f"{', '.join(OCCLUSION_RECIPES)} to that recipe's params"
            )
        chosen = recipe or self.recipe
        params = params_by_recipe.get(chosen) or {}
        if not isinstance(params, Mapping):
            raise DatasetError(f"data.occlusion_params.{chosen}: expected a mapping of params, got {params!r}")
        base = self.params if chosen == self.recipe else {}
        return Occlusion(chosen, {**base, **params})

    def view_maker(self, image_size: int, split: str) -> ViewMaker:
        """Validate the params and build the view maker for `image_size` and `split`; DatasetError if invalid."""
        if self.recipe not in _PARAM_TYPES:
            raise DatasetError(f"data.occlusion: expected one of {', '.join(OCCLUSION_RECIPES)}, got {self.recipe!r}")
        params = parse_params(_PARAM_TYPES[self.recipe], self.params, self.recipe)
        problem = params.check()
        if problem is not None:
            raise DatasetError(f"data.occlusion_params.{self.recipe}: {problem}")
        return params.view_maker(image_size, split)


def parse_params(kind: type[RecipeParams], values: Mapping[str, Any], recipe: str) -> RecipeParams:
    """`kind` built from a config mapping; DatasetError naming an unknown key or a value of the wrong type."""
    hints = typing.get_type_hints(kind)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        valid = ", ".join(sorted(hints)) or "none"
        raise DatasetError(f"data.occlusion_params.{recipe}: unknown key {unknown[0]!r} (valid: {valid})")
    converted = {key: _convert(value, hints[key], f"{recipe}.{key}") for key, value in values.items()}
    return kind(**converted)


def _convert(value: Any, expected: Any, key: str) -> Any:
    """`value` as the field type (lists of numbers become tuples; ints are valid floats)."""
    options = typing.get_args(expected) if typing.get_origin(expected) is types.UnionType else ()
    if options:
        for option in options:
            try:
                return _convert(value, option, key)
            except DatasetError:
                continue
        raise DatasetError(f"data.occlusion_params.{key}: got {value!r} of the wrong type")
    if expected is type(None) and value is None:
        return None
    if typing.get_origin(expected) is tuple:
        item_types = typing.get_args(expected)
        if not isinstance(value, list | tuple) or len(value) != len(item_types):
            raise DatasetError(f"data.occlusion_params.{key}: expected a list of {len(item_types)} numbers")
        return tuple(_convert(item, item_type, key) for item, item_type in zip(value, item_types))
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if expected is float and numeric:
        return float(value)
    if expected is int and numeric and float(value).is_integer():
        return int(value)
    if expected is str and isinstance(value, str | Path):
        return str(value)
    raise DatasetError(
        f"data.occlusion_params.{key}: expected {getattr(expected, '__name__', expected)}, got {value!r}"
    )
