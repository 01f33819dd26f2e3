"""One FusionTabletop item: a clean render of a random workspace (target) and 3 renders with occluders (views).

Item `index` of a split is a function of (seed, split, index) only. A scene is redrawn if its target objects
cover less than MIN_TARGET_AREA of the image; a view's occluders are redrawn until the fraction of target-object
pixels they hide lies in OCCLUDED_FRACTION_RANGE (measured on the renderer's segmentation output), so every
view hides part of the targets and none hides all of them; the last view is also redrawn until the union of
the views shows more target pixels than any single view. A scene whose views need more than
MAX_VIEW_ATTEMPTS draws per view on average is redrawn. The rules look at the centred square of the frame: all of
a square render, and for a camera-size render (camera.py) the part the node's centre crop hands to the model.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fusionvae_core.data.fusion_dataset import NUM_VIEWS, SPLITS
from fusionvae_core.data.tabletop.renderer import Render, TabletopRenderer
from fusionvae_core.data.tabletop.scene import CAMERA_DISTANCE, Scene, draw_occluders, draw_scene

GENERATOR_VERSION = 1  # bump on any change that alters renders: caches of another version are re-rendered
OCCLUDED_FRACTION_RANGE = (0.1, 0.8)
MIN_TARGET_AREA = 0.02
MAX_VIEW_ATTEMPTS = 20
MAX_SCENE_ATTEMPTS = 100


SHADOW_TOLERANCE = 8  # grey levels: a view pixel further than this from the clean render lies in an occluder's shadow


class RenderedScene(NamedTuple):
    """`target` uint8 [H,W,3], `views` uint8 [V,H,W,3], `target_mask` bool [H,W] (target-object pixels of the
    clean render), `visible` bool [V,H,W] (those pixels still showing a target object in each view) and
    `view_visible` bool [V,H,W] (the view shows the scene as the target does: no occluder and no occluder's shadow;
    the visibility label of every pixel, see `scene_visibility`)."""

    target: np.ndarray
    views: np.ndarray
    target_mask: np.ndarray
    visible: np.ndarray
    view_visible: np.ndarray

    @property
    def occluded_fraction(self) -> np.ndarray:
        """Per view, the fraction of target-object pixels hidden by occluders, float [V]."""
        return 1.0 - self.visible.sum(axis=(1, 2)) / self.target_mask.sum()


class Workspace(NamedTuple):
    """A drawn and built scene: the draw, the target objects' world centres [N,3], its clean render and the
    target-object mask of that render, bool [H,W]."""

    scene: Scene
    centres: np.ndarray
    clean: Render
    target_mask: np.ndarray


def item_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator that draws item `index` of `split`."""
    return np.random.default_rng((seed, SPLITS.index(split), index))


def render_item(
    renderer: TabletopRenderer, objects: list[str], seed: int, split: str, index: int, size: int
) -> RenderedScene:
    """Item `index` of `split` rendered square at `size` pixels."""
    return render_scene(renderer, objects, item_rng(seed, split, index), size, size)


def render_scene(
    renderer: TabletopRenderer, objects: list[str], rng: np.random.Generator, width: int, height: int
) -> RenderedScene:
    """A random scene of `objects` and NUM_VIEWS occluded views of it (see module doc for the acceptance rules)."""
    square = centre_square(height, width)
    for _ in range(MAX_SCENE_ATTEMPTS):
        workspace = draw_workspace(renderer, objects, rng, width, height)
        if workspace is None:
            continue
        scene, centres, clean, target_mask = workspace
        in_scene = {target.urdf for target in scene.targets}
        views: list[np.ndarray] = []
        visible: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        for _ in range(MAX_VIEW_ATTEMPTS * NUM_VIEWS):
            occluders = renderer.add(draw_occluders(rng, scene.camera, centres, objects, in_scene))
            view = renderer.render(scene.camera, scene.light, width, height)
            renderer.remove(occluders)
            shown = target_mask & np.isin(view.segmentation, renderer.target_ids)
            if _acceptable(target_mask[square], [mask[square] for mask in (*visible, shown)]):
                views.append(view.rgb)
                visible.append(shown)
                labels.append(scene_visibility(view.rgb, view.segmentation, clean.rgb, occluders))
                if len(views) == NUM_VIEWS:
                    return RenderedScene(clean.rgb, np.stack(views), target_mask, np.stack(visible), np.stack(labels))
    raise RuntimeError(f"no acceptable scene in {MAX_SCENE_ATTEMPTS} draws: the scene parameters are inconsistent")


def draw_workspace(
    renderer: TabletopRenderer,
    objects: list[str],
    rng: np.random.Generator,
    width: int,
    height: int,
    camera_distance: tuple[float, float] = CAMERA_DISTANCE,
) -> Workspace | None:
    """Draw a scene of `objects`, build it and render it clean; None (draw again) if its targets cover less than
    MIN_TARGET_AREA of the centre square."""
    scene = draw_scene(rng, objects, camera_distance)
    centres = renderer.build(scene)
    clean = renderer.render(scene.camera, scene.light, width, height)
    target_mask = np.isin(clean.segmentation, renderer.target_ids)
    if target_mask[centre_square(height, width)].mean() < MIN_TARGET_AREA:
        return None
    return Workspace(scene, centres, clean, target_mask)


def scene_visibility(view: np.ndarray, segmentation: np.ndarray, clean: np.ndarray, occluders: list[int]) -> np.ndarray:
    """bool [H,W]: where a view [H,W,3] with its segmentation shows what the clean render shows: no occluder body
    there and the colour within SHADOW_TOLERANCE of the clean render (an occluder's shadow changes the scene)."""
    unshadowed = np.abs(view.astype(np.int16) - clean.astype(np.int16)).max(axis=-1) <= SHADOW_TOLERANCE
    return np.asarray(~np.isin(segmentation, occluders) & unshadowed)


def centre_square(height: int, width: int) -> tuple[slice, slice]:
    """Rows and columns of the largest centred square of a height x width frame (all of a square frame)."""
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return slice(top, top + side), slice(left, left + side)


def hidden_share(target_mask: np.ndarray, shown: np.ndarray) -> float:
    """Fraction of the target-object pixels `target_mask` that a view hides (those not in its `shown` mask)."""
    return float(1.0 - shown.sum() / target_mask.sum())


def union_shows_more(shown: list[np.ndarray]) -> bool:
    """Whether the views' target-object masks together show more pixels than the best single view does."""
    return bool(np.logical_or.reduce(shown).sum() > max(mask.sum() for mask in shown))


def _acceptable(target_mask: np.ndarray, visible: list[np.ndarray]) -> bool:
    """Whether the newest view hides an allowed fraction of the targets and, once all views exist, their union
    shows more target pixels than the best single view (every item rewards fusing its views)."""
    hidden = hidden_share(target_mask, visible[-1])
    if not OCCLUDED_FRACTION_RANGE[0] <= hidden <= OCCLUDED_FRACTION_RANGE[1]:
        return False
    return len(visible) < NUM_VIEWS or union_shows_more(visible)
