"""fusion_tabletop_arm renders (pybullet TinyRenderer, tiny sizes): determinism, the acceptance rules, labels that
follow the segmentation, arms unseen in training, motions, the eval frame choice and the window median."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from fusionvae_core.baselines.references import view_median
from fusionvae_core.data import DatasetError
from fusionvae_core.data.tabletop import generator, motion
from fusionvae_core.data.tabletop.arm import ARM_SPLITS, ARMS
from fusionvae_core.data.tabletop.camera import CameraSequences
from fusionvae_core.data.tabletop.objects import object_set
from fusionvae_core.data.tabletop.renderer import Render, TabletopRenderer
from fusionvae_core.data.tabletop.scene import Camera, Placement
from fusionvae_core.data.tabletop.sequence import HIDDEN_SHARE_RANGE, ArmBenchmark, spread_frames

SIZE, FRAMES, SPLIT = 32, 4, "val"
ARM_URDFS = {model.urdf for model in ARMS.values()}


class RenderSpy:
    """A renderer whose renders remember their segmentation and the arm body that stood in the scene then, and
    which records the URDF files it loads."""

    def __init__(self) -> None:
        self.renderer = TabletopRenderer()
        self.segmentations: dict[bytes, tuple[np.ndarray, int | None]] = {}
        self.loaded: list[str] = []
        self.arm: int | None = None
        add, remove, render, load = self.renderer.add, self.renderer.remove, self.renderer.render, self.renderer._load

        def spy_add(placements: list[Placement]) -> list[int]:
            bodies = add(placements)
            if placements[0].urdf in ARM_URDFS:
                self.arm = bodies[0]
            return bodies

        def spy_remove(bodies: list[int]) -> None:
            remove(bodies)
            self.arm = None if self.arm in bodies else self.arm

        def spy_render(*args: object) -> Render:
            result = render(*args)  # type: ignore[arg-type]
            self.segmentations[result.rgb.tobytes()] = (result.segmentation, self.arm)
            return result

        def spy_load(placement: Placement) -> int:
            self.loaded.append(placement.urdf)
            return load(placement)

        self.renderer.add, self.renderer.remove, self.renderer.render = spy_add, spy_remove, spy_render  # type: ignore
        self.renderer._load = spy_load  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def spy() -> Iterator[RenderSpy]:
    """One spied-on headless client for the module's renders."""
    watched = RenderSpy()
    yield watched
    watched.renderer.close()


@pytest.fixture(scope="module")
def sequences(spy: RenderSpy) -> list[generator.RenderedScene]:
    """Three val sequences of FRAMES frames at SIZE pixels."""
    benchmark = ArmBenchmark(FRAMES)
    return [benchmark.render_item(spy.renderer, object_set(SPLIT), 0, SPLIT, index, SIZE) for index in range(3)]


def test_same_seed_gives_byte_identical_sequences_and_other_seeds_differ(
    sequences: list[generator.RenderedScene], spy: RenderSpy
) -> None:
    benchmark = ArmBenchmark(FRAMES)
    with TabletopRenderer() as fresh:  # a new client, no earlier scene: no state may carry over
        again = benchmark.render_item(fresh, object_set(SPLIT), 0, SPLIT, 1, SIZE)
    for a, b in zip(sequences[1], again):
        assert a.tobytes() == b.tobytes()
    other_seed = benchmark.render_item(spy.renderer, object_set(SPLIT), 1, SPLIT, 1, SIZE)
    assert other_seed.views.tobytes() != sequences[1].views.tobytes()
    assert sequences[0].views.tobytes() != sequences[1].views.tobytes()
    first = sequences[0]
    assert first.target.shape == (SIZE, SIZE, 3) and first.views.shape == (FRAMES, SIZE, SIZE, 3)
    assert first.visible.shape == first.view_visible.shape == (FRAMES, SIZE, SIZE)


def test_every_frame_hides_an_allowed_share_and_fusing_frames_shows_more(
    sequences: list[generator.RenderedScene],
) -> None:
    low, high = HIDDEN_SHARE_RANGE
    for sequence in sequences:
        assert sequence.target_mask.mean() >= generator.MIN_TARGET_AREA
        assert np.all(sequence.visible <= sequence.target_mask)  # the arm can only hide object pixels
        hidden = sequence.occluded_fraction
        assert np.all((hidden >= low) & (hidden <= high)), hidden
        shown = sequence.visible.sum(axis=(1, 2))
        assert np.logical_or.reduce(sequence.visible).sum() > shown.max()
        spread = sequence.visible[spread_frames(FRAMES)]
        assert np.logical_or.reduce(spread).sum() > spread.sum(axis=(1, 2)).max()


def test_labels_follow_the_segmentation(sequences: list[generator.RenderedScene], spy: RenderSpy) -> None:
    for sequence in sequences:
        for view, label, visible in zip(sequence.views, sequence.view_visible, sequence.visible):
            segmentation, arm = spy.segmentations[view.tobytes()]
            assert arm is not None
            on_arm = segmentation == arm
            assert on_arm.any() and not (label & on_arm).any()  # the arm body is never visible
            difference = np.abs(view.astype(int) - sequence.target.astype(int)).max(axis=-1)
            shadow = ~label & ~on_arm  # hidden without the arm there: its shadow changed the colour
            assert (difference[shadow] > generator.SHADOW_TOLERANCE).all()
            assert (difference[label] <= generator.SHADOW_TOLERANCE).all()
            assert (segmentation[sequence.target_mask & ~visible] == arm).all()  # only the arm hides objects


def test_test_split_arms_and_objects_are_unseen_in_training(spy: RenderSpy) -> None:
    assert set(ARM_SPLITS["test"]).isdisjoint(ARM_SPLITS["train"] + ARM_SPLITS["val"])
    assert {ARMS[name].urdf for name in ARM_SPLITS["test"]}.isdisjoint(ARMS[name].urdf for name in ARM_SPLITS["train"])
    spy.loaded.clear()
    ArmBenchmark(3).render_item(spy.renderer, object_set("test"), 0, "test", 0, 24)
    arms = {urdf for urdf in spy.loaded if urdf in ARM_URDFS}
    assert arms == {ARMS["xarm"].urdf}
    objects = {urdf for urdf in spy.loaded if urdf.startswith("random_urdfs/")}
    assert objects and objects <= set(object_set("test"))


def test_motions_start_and_end_at_rest_on_their_waypoints_within_reach() -> None:
    waypoints = np.array([[0.0, 0.0, 0.8], [0.2, 0.1, 0.9], [0.2, -0.1, 0.8]])
    path = motion.minimum_jerk_path(waypoints, 200)
    np.testing.assert_allclose(path[[0, -1]], waypoints[[0, -1]])
    assert np.linalg.norm(path - waypoints[1], axis=1).min() < 1e-3  # passes the middle waypoint
    assert (path >= waypoints.min(axis=0) - 1e-9).all() and (path <= waypoints.max(axis=0) + 1e-9).all()
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    assert steps[0] < steps.max() / 20 and steps[-1] < steps.max() / 20  # at rest at the ends
    rng = np.random.default_rng(0)
    centres = np.array([[0.1, 0.05, 0.66], [-0.15, 0.0, 0.66]])
    for _ in range(50):
        yaw = rng.uniform(0, 2 * np.pi)
        camera = Camera((0.6 * np.cos(yaw), 0.6 * np.sin(yaw), 1.1), (0.0, 0.0, 0.63), 50.0)
        drawn = motion.draw_motion(rng, 0.62, camera, centres, 6)
        base = np.array(drawn.base)
        side = np.degrees(np.arccos(np.dot(base[:2], camera.eye[:2]) / np.linalg.norm(base[:2]) / 0.6))
        assert side >= 180 - motion.BASE_SPREAD_DEG - 1e-6  # never between the camera and the table
        assert abs(base[1]) <= motion.BASE_MAX_Y and np.linalg.norm(base[:2]) <= motion.BASE_RADIUS[1]
        assert np.linalg.norm(drawn.tips[:, :2] - base[:2], axis=1).max() <= 0.62 + 1e-9
        heights = drawn.tips[:, 2] - motion.WORKSPACE_HEIGHT
        assert (heights >= motion.TIP_HEIGHT[0] - 1e-9).all() and (heights <= motion.TIP_HEIGHT[1] + 1e-9).all()
        assert drawn.tips.shape == (6, 3) and drawn.headings.shape == (6,)


def test_spread_frames_are_the_newest_the_middle_and_the_oldest_and_eval_views_the_selected_ones() -> None:
    assert spread_frames(8) == [7, 3, 0] and spread_frames(3) == [2, 1, 0]
    assert all(len(set(spread_frames(frames))) == 3 for frames in range(3, 17))
    window = np.zeros((5, 4, 4, 3), np.uint8)
    window[3, :, :2] = 255  # frame 3 changed pixels that the oldest frame did not
    assert ArmBenchmark(5).eval_views(window) == [4, 0, 3]
    with pytest.raises(DatasetError, match=r"frames must be >= 3"):
        ArmBenchmark(2)
    assert pickle.loads(pickle.dumps(ArmBenchmark(5))).frames == 5  # travels to render worker processes


def test_window_median_is_the_per_pixel_median_of_all_frames() -> None:
    frames = torch.rand(2, 5, 3, 4, 4)
    torch.testing.assert_close(view_median(frames), frames.median(dim=1).values)  # odd T: the middle value
    even = frames[:, :4]
    torch.testing.assert_close(view_median(even), torch.from_numpy(np.median(even.numpy(), axis=1)))
    still = torch.rand(1, 1, 3, 4, 4).expand(1, 6, 3, 4, 4).clone()
    still[0, 2] = 0.0  # an arm crossing a static scene in 2 of 6 frames: the median is the scene
    still[0, 4] = 1.0
    torch.testing.assert_close(view_median(still), still[:, 0])


def test_camera_sequences_apply_the_rules_to_the_centre_square() -> None:
    sequences = CameraSequences(SPLIT, 1, width=48, height=32, frames=3)
    item = sequences[0]
    assert item.views.shape == (3, 3, 32, 48) and item.target.shape == (3, 32, 48)
    assert item.visibility.shape == (3, 32, 48) and item.object_mask is not None
    rows, columns = generator.centre_square(32, 48)
    objects = item.object_mask[rows, columns]
    assert objects.float().mean() >= generator.MIN_TARGET_AREA
    assert (item.visibility[:, rows, columns] == 0).any(dim=(1, 2)).all()  # the arm is in every frame
    with pytest.raises(DatasetError, match="frames must be >= 3"):
        CameraSequences(SPLIT, 1, frames=2)
