"""FusionT-LESS on a generated BOP-layout fixture: occluder cut-out tool, class split, held-out targets, composition."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fusionvae_core.data import DatasetError, build_dataset
from fusionvae_core.data.occluders import OccludedViews, load_occluders
from fusionvae_core.data.tless import (
    TLESS_EVAL_OCCLUDER_OBJECTS,
    TLESS_TARGET_OBJECTS,
    TLESS_TRAIN_OCCLUDER_OBJECTS,
)
from fusionvae_core.data.tless_occluders import main as cut_out_main

SOURCE_SIZE = 96
RADIUS = 20
TARGET_IMAGES = 12  # → positions 0..11; position 9 is held out
OCCLUDER_IMAGES = 3


def object_colour(obj_id: int) -> tuple[int, int, int]:
    """A distinct RGB colour per object id (ids 1..30)."""
    return (40 + 7 * obj_id, 250 - 6 * (obj_id % 7) * 5, 60 + 90 * (obj_id % 3))


def write_bop_tless(root: Path) -> Path:
    """T-LESS in the BOP layout: train_primesense/<obj 6 digits>/{rgb/<im 6 digits>.png, scene_gt.json, …}:
    one object per folder, a filled disc of the object's colour on a dark noisy background."""
    train_dir = root / "train_primesense"
    rng = np.random.default_rng(0)
    for obj_id in range(1, 31):
        scene = train_dir / f"{obj_id:06d}"
        (scene / "rgb").mkdir(parents=True)
        count = TARGET_IMAGES if obj_id in TLESS_TARGET_OBJECTS else OCCLUDER_IMAGES
        scene_gt = {
            str(im): [{"cam_R_m2c": [1, 0, 0, 0, 1, 0, 0, 0, 1], "cam_t_m2c": [0, 0, 700], "obj_id": obj_id}]
            for im in range(count)
        }
        (scene / "scene_gt.json").write_text(json.dumps(scene_gt))
        (scene / "scene_camera.json").write_text(
            json.dumps(
                {
                    str(im): {"cam_K": [1075.65, 0, 48, 0, 1073.9, 48, 0, 0, 1], "depth_scale": 0.1}
                    for im in range(count)
                }
            )
        )
        for im in range(count):
            image = rng.integers(0, 12, size=(SOURCE_SIZE, SOURCE_SIZE, 3)).astype(np.uint8)
            centre = (SOURCE_SIZE // 2 + im % 3 - 1, SOURCE_SIZE // 2)
            cv2.circle(image, centre, RADIUS, object_colour(obj_id)[::-1], thickness=cv2.FILLED)
            cv2.imwrite(str(scene / "rgb" / f"{im:06d}.png"), image)
    return root


@pytest.fixture(scope="module")
def tless_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_bop_tless(tmp_path_factory.mktemp("tless"))
    assert cut_out_main(["--root", str(root), "--out", str(root / "fusion_tless_occluders")]) == 0
    return root


def test_cut_out_tool_writes_one_rgba_object_per_image_into_its_class_part(tless_root: Path) -> None:
    out = tless_root / "fusion_tless_occluders"
    manifest = json.loads((out / "occluders.json").read_text())
    assert manifest["image_size"] == 64
    scaled_area = np.pi * (RADIUS * 64 / SOURCE_SIZE) ** 2
    for part, classes in (("train", TLESS_TRAIN_OCCLUDER_OBJECTS), ("eval", TLESS_EVAL_OCCLUDER_OBJECTS)):
        files = sorted((out / part).glob("*.png"))
        assert len(files) == len(classes) * OCCLUDER_IMAGES == manifest["counts"][part]
        assert {int(path.name[:6]) for path in files} == set(classes)
        for path in files[::OCCLUDER_IMAGES]:
            bgra = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            alpha = bgra[:, :, 3] > 0
            assert abs(alpha.sum() - scaled_area) < 0.15 * scaled_area  # the disc, scaled like the 64×64 targets
            inner = cv2.erode(alpha.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            colour = np.median(bgra[:, :, 2::-1][inner], axis=0)
            np.testing.assert_allclose(colour, object_colour(int(path.name[:6])), atol=3)


def test_splits_hold_out_every_tenth_target_and_keep_occluder_classes_apart(tless_root: Path) -> None:
    train = build_dataset("fusion_tless", "train", tless_root)
    val = build_dataset("fusion_tless", "val", tless_root)
    test = build_dataset("fusion_tless", "test", tless_root)
    assert len(train) == 6 * (TARGET_IMAGES - 1) and len(val) == len(test) == 6
    assert (train.image_size, train.channels) == (64, 3)
    held_out = {path.resolve() for path in val.source.files}
    assert {path.name for path in held_out} == {"000009.png"}
    assert {int(path.parent.parent.name) for path in held_out} == set(TLESS_TARGET_OBJECTS)
    assert held_out.isdisjoint(path.resolve() for path in train.source.files)
    assert {o.obj_id for o in train.view_maker.occluders} == set(TLESS_TRAIN_OCCLUDER_OBJECTS)
    assert {o.obj_id for o in test.view_maker.occluders} == set(TLESS_EVAL_OCCLUDER_OBJECTS)


def interior_colours(view: np.ndarray) -> set[tuple[int, int, int]]:
    """Colours (0..255) of pixels whose 3×3 neighbourhood is constant (no edge blends)."""
    pixels = np.round(view.transpose(1, 2, 0) * 255).astype(int)
    colours = set()
    for row in range(1, pixels.shape[0] - 1):
        for col in range(1, pixels.shape[1] - 1):
            block = pixels[row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3)
            if (block == block[0]).all():
                colours.add(tuple(int(v) for v in block[0]))
    return colours


def test_views_compose_five_to_eight_occluders_of_the_split_classes(tless_root: Path) -> None:
    val = build_dataset("fusion_tless", "val", tless_root, seed=1)
    assert isinstance(val.view_maker, OccludedViews)
    rng = np.random.default_rng(0)
    counts = {len(val.view_maker.draw_layers(rng, 64)) for _ in range(300)}
    assert counts == {5, 6, 7, 8}
    train_colours = {object_colour(obj_id) for obj_id in TLESS_TRAIN_OCCLUDER_OBJECTS}
    eval_colours = {object_colour(obj_id) for obj_id in TLESS_EVAL_OCCLUDER_OBJECTS}
    seen: set[tuple[int, int, int]] = set()
    for index in range(len(val)):
        item = val[index]
        assert item.views.shape == (3, 3, 64, 64)
        assert not torch.equal(item.views[0], item.views[1])
        for view in item.views.numpy():
            colours = interior_colours(view)
            assert not colours & train_colours
            seen |= colours & eval_colours
    assert len(seen) >= 4
    again = build_dataset("fusion_tless", "val", tless_root, seed=1)
    torch.testing.assert_close(again[2].views, val[2].views, rtol=0, atol=0)


def test_training_targets_are_augmented_and_evaluation_targets_are_not(tless_root: Path) -> None:
    train = build_dataset("fusion_tless", "train", tless_root)
    draws = [train[3].target for _ in range(4)]
    assert not all(torch.equal(draws[0], draw) for draw in draws[1:])
    target = build_dataset("fusion_tless", "test", tless_root)[0].target
    expected = torch.tensor(object_colour(TLESS_TARGET_OBJECTS[0]), dtype=torch.float32) / 255
    torch.testing.assert_close(target[:, 32, 32], expected, rtol=0, atol=2 / 255)  # disc centre, unwarped
    assert target[:, :4, :4].max() < 12 / 255  # dark corner


def test_missing_or_mixed_occluders_and_wrong_roots_give_clear_errors(tless_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="train_primesense"):
        build_dataset("fusion_tless", "train", tmp_path)
    assert cut_out_main(["--root", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    with pytest.raises(DatasetError, match="tless_occluders --root"):
        build_dataset("fusion_tless", "train", tless_root, occluder_dir=tmp_path / "none")
    mixed = tmp_path / "mixed"
    shutil.copytree(tless_root / "fusion_tless_occluders", mixed)
    stray = next((mixed / "eval").glob("*.png"))
    shutil.copy(stray, mixed / "train" / stray.name)
    with pytest.raises(DatasetError, match="not an occluder of the train classes"):
        load_occluders(mixed, "train", 64)


def test_tool_cutouts_are_rescaled_for_other_model_sizes(tless_root: Path) -> None:
    folder = tless_root / "fusion_tless_occluders"
    at_64 = load_occluders(folder, "eval", 64)
    at_128 = load_occluders(folder, "eval", 128)
    assert [o.obj_id for o in at_64] == [o.obj_id for o in at_128]
    for small, large in zip(at_64, at_128):
        assert large.rgba.shape[:2] == (2 * small.rgba.shape[0], 2 * small.rgba.shape[1])
