"""FusionTabletop renders (pybullet TinyRenderer, small sizes): determinism, disjoint objects, real occlusions."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fusionvae_core.data import DatasetError
from fusionvae_core.data.tabletop import generator
from fusionvae_core.data.tabletop.cli import main as cli_main
from fusionvae_core.data.tabletop.objects import load_pybullet, object_set
from fusionvae_core.data.tabletop.renderer import TabletopRenderer

pytestmark = pytest.mark.slow

SIZE = 40


@pytest.fixture(scope="module")
def renderer() -> Iterator[TabletopRenderer]:
    """One headless client for the module's renders."""
    with TabletopRenderer() as client:
        yield client


def render(renderer: TabletopRenderer, seed: int, index: int, split: str = "test") -> generator.RenderedScene:
    return generator.render_item(renderer, object_set(split), seed, split, index, SIZE)


def test_same_seed_gives_byte_identical_renders_and_other_seeds_differ(renderer: TabletopRenderer) -> None:
    first = render(renderer, seed=3, index=1)
    render(renderer, seed=3, index=2)  # another scene in between: no state may carry over
    with TabletopRenderer() as fresh:
        again = render(fresh, seed=3, index=1)
    for a, b in zip(first, again):
        assert a.tobytes() == b.tobytes()
    other_seed = render(renderer, seed=4, index=1)
    other_index = render(renderer, seed=3, index=2)
    assert other_seed.target.tobytes() != first.target.tobytes()
    assert other_index.target.tobytes() != first.target.tobytes()
    assert first.target.shape == (SIZE, SIZE, 3) and first.target.dtype == np.uint8
    assert first.views.shape == (3, SIZE, SIZE, 3)


def test_splits_use_disjoint_object_sets_and_renders_load_only_their_split(
    renderer: TabletopRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sets = {split: set(object_set(split)) for split in ("train", "val", "test")}
    assert [len(objects) for objects in sets.values()] == [800, 100, 100]
    assert sets["train"].isdisjoint(sets["test"]) and sets["train"].isdisjoint(sets["val"])
    assert sets["val"].isdisjoint(sets["test"])
    assert object_set("test") == object_set("test")  # the cut is fixed, not drawn per call
    loaded: list[str] = []
    original = renderer._load
    monkeypatch.setattr(renderer, "_load", lambda placement: loaded.append(placement.urdf) or original(placement))
    render(renderer, seed=0, index=5, split="test")
    assert loaded and set(loaded) <= sets["test"]


def test_every_view_hides_part_of_the_targets_and_fusing_views_shows_more(renderer: TabletopRenderer) -> None:
    low, high = generator.OCCLUDED_FRACTION_RANGE
    for index in range(4):
        scene = render(renderer, seed=0, index=index)
        target_pixels = scene.target_mask.sum()
        assert target_pixels >= generator.MIN_TARGET_AREA * SIZE * SIZE
        assert np.all(scene.visible <= scene.target_mask)  # a view can only hide target pixels, not add them
        hidden = 1.0 - scene.visible.sum(axis=(1, 2)) / target_pixels
        assert np.all((hidden >= low) & (hidden <= high)), hidden
        np.testing.assert_allclose(scene.occluded_fraction, hidden)
        union = np.logical_or.reduce(scene.visible).sum()
        assert union > scene.visible.sum(axis=(1, 2)).max()
        # the segmentation agrees with the pixels: where a target is hidden, the view shows something else
        for view, visible in zip(scene.views, scene.visible):
            covered = scene.target_mask & ~visible
            changed = np.any(view != scene.target, axis=-1)
            assert changed[covered].mean() > 0.9


def test_missing_pybullet_is_one_line_naming_the_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pybullet", None)
    with pytest.raises(DatasetError, match=r"pip install pybullet==3\.2\.7") as error:
        load_pybullet()
    assert "\n" not in str(error.value)
    assert cli_main(["render", "--out", str(tmp_path), "--split", "test", "--count", "1"]) == 2
    assert capsys.readouterr().err == f"error: {error.value}\n"
    assert not any(tmp_path.iterdir())


def test_camera_size_renders_apply_the_rules_to_the_centre_square(renderer: TabletopRenderer) -> None:
    low, high = generator.OCCLUDED_FRACTION_RANGE
    scene = generator.render_scene(renderer, object_set("test"), generator.item_rng(0, "test", 0), 60, 40)
    assert scene.target.shape == (40, 60, 3) and scene.views.shape == (3, 40, 60, 3)
    rows, columns = generator.centre_square(40, 60)
    assert (rows, columns) == (slice(0, 40), slice(10, 50))
    target_pixels = scene.target_mask[rows, columns].sum()
    assert target_pixels >= generator.MIN_TARGET_AREA * 40 * 40
    hidden = 1.0 - scene.visible[:, rows, columns].sum(axis=(1, 2)) / target_pixels
    assert np.all((hidden >= low) & (hidden <= high)), hidden
