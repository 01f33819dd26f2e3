"""Visibility labels match the pixels each recipe drew: windows, pasted occluders, recorded views, renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from test_data_occlusion import write_round_cutouts

from fusionvae_core.data import make_loader
from fusionvae_core.data.factory import build_dataset
from fusionvae_core.data.masks import FUSION_CELEBA_RECIPE, EllipseViews
from fusionvae_core.data.occlusion import Occlusion
from fusionvae_core.data.tabletop import generator
from fusionvae_core.data.tabletop.objects import object_set
from fusionvae_core.data.tabletop.renderer import TabletopRenderer
from fusionvae_core.data.tabletop.scene import draw_occluders, draw_scene
from fusionvae_core.data.visibility import AGREEMENT_TOLERANCE, agreement_visibility, hidden_pixels


def textured_target(channels: int, size: int, seed: int = 0) -> np.ndarray:
    """A target no window, cut-out or black pixel equals: values in [0.3, 0.9]."""
    return (0.3 + 0.6 * np.random.default_rng(seed).random((channels, size, size))).astype(np.float32)


def test_ellipse_window_labels_are_exactly_the_windows() -> None:
    target = textured_target(3, 64)
    views, visibility = EllipseViews(FUSION_CELEBA_RECIPE)(target, np.random.default_rng(4))
    assert visibility.shape == (3, 64, 64) and set(np.unique(visibility)) <= {0.0, 1.0}
    inside = visibility.astype(bool)
    assert inside.any() and (~inside).any()
    for view, window in zip(views, inside):
        np.testing.assert_array_equal(view[:, window], target[:, window])  # no noise in the CelebA recipe
        assert (view[:, ~window] == 0).all()


def test_pasted_occluder_labels_are_the_uncovered_pixels(tmp_path: Path) -> None:
    occlusion = Occlusion("occluders", {"occluder_dir": str(write_round_cutouts(tmp_path / "cutouts"))})
    target = textured_target(3, 64, seed=1)
    views, visibility = occlusion.view_maker(64, "train")(target, np.random.default_rng(2))
    assert visibility.min() >= 0.0 and visibility.max() <= 1.0
    for view, shown in zip(views, visibility):
        free = shown == 1.0
        np.testing.assert_allclose(view[:, free], target[:, free], atol=1e-6)  # uncovered: the target exactly
        covered = shown == 0.0
        assert covered.any() and (np.abs(view[:, covered] - target[:, covered]).max(axis=0) > 1e-3).all()


def test_recorded_views_are_visible_where_they_agree_with_the_target() -> None:
    rng = np.random.default_rng(3)
    target = textured_target(3, 32, seed=3)
    views = np.repeat(target[None], 3, axis=0) + rng.normal(0.0, 0.01, (3, 3, 32, 32)).astype(np.float32)
    views[0, :, 8:20, 4:16] = 0.0  # an occluder in view 0
    views[2, :, 20:30, 10:30] = 1.0  # and one in view 2
    labels = agreement_visibility(views, target)
    expected = np.ones((3, 32, 32), dtype=bool)
    expected[0, 8:20, 4:16] = False
    expected[2, 20:30, 10:30] = False
    border = np.zeros((3, 32, 32), dtype=bool)  # the 3x3 averaging blurs the label by one pixel at an edge
    for index, (rows, cols) in ((0, (slice(7, 21), slice(3, 17))), (2, (slice(19, 31), slice(9, 31)))):
        border[index, rows, cols] = True
        border[index, rows.start + 2 : rows.stop - 2, cols.start + 2 : cols.stop - 2] = False
    np.testing.assert_array_equal(labels.astype(bool)[~border], expected[~border])
    assert AGREEMENT_TOLERANCE > 3 * 0.01  # sensor noise of this size stays visible


def test_hidden_pixels_are_those_no_view_shows() -> None:
    visibility = np.zeros((2, 4, 4), dtype=np.float32)
    visibility[0, 0] = 1.0
    visibility[1, :, 0] = 0.9
    hidden = hidden_pixels(visibility)
    assert not hidden[0].any() and not hidden[:, 0].any() and hidden[1:, 1:].all()
    assert hidden_pixels(np.zeros((0, 4, 4))).all()  # without views everything is hidden


def test_render_labels_follow_the_segmentation_and_mark_occluder_shadows() -> None:
    objects = object_set("train")
    with TabletopRenderer() as renderer:
        for index in range(3):
            rng = generator.item_rng(0, "train", index)
            scene = draw_scene(rng, objects)
            centres = renderer.build(scene)
            clean = renderer.render(scene.camera, scene.light, 48, 48)
            occluders = renderer.add(draw_occluders(rng, scene.camera, centres, objects, set()))
            view = renderer.render(scene.camera, scene.light, 48, 48)
            label = generator.scene_visibility(view.rgb, view.segmentation, clean.rgb, occluders)
            on_occluder = np.isin(view.segmentation, occluders)
            difference = np.abs(view.rgb.astype(int) - clean.rgb.astype(int)).max(axis=-1)
            assert on_occluder.any() and not (label & on_occluder).any()  # an occluder body is never visible
            shadow = ~label & ~on_occluder  # hidden without an occluder body there: its shadow changed the colour
            assert (difference[shadow] > generator.SHADOW_TOLERANCE).all()
            assert (difference[label] <= generator.SHADOW_TOLERANCE).all()
            renderer.remove(occluders)


def test_rendered_items_carry_labels_and_object_masks(tmp_path: Path) -> None:
    with TabletopRenderer() as renderer:
        scene = generator.render_item(renderer, object_set("test"), 0, "test", 0, 32)
    assert scene.view_visible.shape == (3, 32, 32) and scene.view_visible.dtype == bool
    assert not (scene.view_visible & scene.target_mask & ~scene.visible).any()  # a visible object pixel is shown
    assert (~scene.view_visible).any(axis=(1, 2)).all()  # every view hides something


def test_batches_carry_the_labels_of_their_first_k_views() -> None:
    dataset = build_dataset("fusion_mnist", "val", seed=0)
    batch = next(iter(make_loader(dataset, batch_size=4, shuffle=False, num_workers=0, seed=0, fixed_k=2)))
    assert batch.visibility.shape == (4, 2, 32, 32) and batch.object_mask is None
    item = dataset[0]
    torch.testing.assert_close(batch.visibility[0], item.visibility[:2])
    # MNIST windows with noise: outside the window the view is noise around black, inside noise around the digit
    assert 0.1 < float(item.visibility.mean()) < 0.5
