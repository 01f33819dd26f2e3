"""fusion_tabletop_arm: a fixed camera watching a robot arm move over a tabletop workspace, T frames per item.

Item `index` of a split is a function of (seed, split, index): a workspace drawn like fusion_tabletop's (same rules
and disjoint object sets, the camera ARM_CAMERA_DISTANCE away so that the arm fits into the picture), one arm of the
split standing on the table's rim and moving along a smooth reach path over the objects (motion.py, posed by
inverse kinematics in arm.py), seen by the unmoving camera in T frames. Target: the workspace rendered without the
arm. Views: the T frames, oldest first, each with its visibility label (no arm body, no arm shadow: see
generator.scene_visibility) and the target objects it shows (segmentation).

Split rule: training and validation show the Panda and the iiwa, the test split only the xArm6 with its gripper, in
front of fusion_tabletop's disjoint object sets. The test thus measures whether a model fills in what an arm it has
never seen hides, as it must on a user's own robot; validation keeps the training arms so that choosing a checkpoint
on it never looks at the test arm. Trajectories are continuous draws from (seed, split, index), never shared.

Acceptance rules (on the centre square of the frame, like generator.py; a failing draw is redrawn): the targets cover at
least generator.MIN_TARGET_AREA; in every frame the tool tip reaches its path point within MAX_TIP_ERROR inside the
joint limits, no joint turns more than MAX_JOINT_STEP since the last frame (no inverse-kinematics flips) and the arm
enters no object, tray or table deeper than MAX_PENETRATION; every frame hides a share of the target-object pixels
within HIDDEN_SHARE_RANGE (so the arm is always in the way, never of everything); the union of the T frames, and that of
the newest, middle and oldest frame (`spread_frames`: the arm moves within the window), shows more target-object pixels
than any single one of them (fusing frames pays). A val/test item's 3 views are the frames the node's temporal source
fuses (fusionvae_core.frame_selection.select_frames on the window). Before a motion is rendered, camera rays through
RAY_SAMPLES of the object pixels screen it: a frame whose arm (collision shapes) hides a share of them less than
RAY_MARGIN inside HIDDEN_SHARE_RANGE is not rendered (the rays' share follows the rendered one closely, correlation
0.99, so a motion that passes the screen rarely fails on its renders).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.fusion_dataset import NUM_VIEWS
from fusionvae_core.data.tabletop import generator
from fusionvae_core.data.tabletop.arm import ARM_SPLITS, ARMS, PosedArm
from fusionvae_core.data.tabletop.cache import Benchmark
from fusionvae_core.data.tabletop.motion import ArmMotion, draw_motion
from fusionvae_core.data.tabletop.renderer import TabletopRenderer
from fusionvae_core.frame_selection import select_frames

SEQUENCE_VERSION = 1  # bump on any change that alters the arm's renders (the workspace's version counts too)
DEFAULT_FRAMES = 8
ARM_CAMERA_DISTANCE = (0.7, 0.95)
HIDDEN_SHARE_RANGE = (0.05, 0.9)
MAX_TIP_ERROR = 0.02  # metres
MAX_JOINT_STEP = 1.0  # radians between consecutive frames
MAX_PENETRATION = 0.01  # metres
RAY_SAMPLES = 48  # object pixels whose camera rays screen a motion before it is rendered
RAY_MARGIN = 0.03  # how far inside HIDDEN_SHARE_RANGE the rays' estimate must be for the frame to be rendered
MAX_MOTION_ATTEMPTS = 10  # motions tried per workspace before the workspace is redrawn


def spread_frames(frames: int) -> list[int]:
    """The newest (T-1), middle ((T-1)//2) and oldest (0) frame of a T-frame window: together they must show more
    target-object pixels than each alone, or the motion is redrawn (an acceptance rule of the renders)."""
    return [frames - 1, (frames - 1) // 2, 0]


def render_sequence(
    renderer: TabletopRenderer,
    objects: list[str],
    arms: tuple[str, ...],
    rng: np.random.Generator,
    width: int,
    height: int,
    frames: int,
) -> generator.RenderedScene:
    """A random workspace of `objects` and `frames` frames of one of `arms` moving over it (see module doc)."""
    for _ in range(generator.MAX_SCENE_ATTEMPTS):
        workspace = generator.draw_workspace(renderer, objects, rng, width, height, ARM_CAMERA_DISTANCE)
        if workspace is None:
            continue
        name = arms[int(rng.integers(len(arms)))]
        arm = PosedArm(renderer, ARMS[name])
        try:
            for _ in range(MAX_MOTION_ATTEMPTS):
                motion = draw_motion(rng, ARMS[name].reach, workspace.scene.camera, workspace.centres, frames)
                sequence = _film(renderer, arm, workspace, motion, width, height)
                if sequence is not None:
                    return sequence
        finally:
            arm.remove()
    raise RuntimeError(f"no acceptable sequence in {generator.MAX_SCENE_ATTEMPTS} workspaces: inconsistent parameters")


def _film(
    renderer: TabletopRenderer,
    arm: PosedArm,
    workspace: generator.Workspace,
    motion: ArmMotion,
    width: int,
    height: int,
) -> generator.RenderedScene | None:
    """The frames of `arm` following `motion` in `workspace`, or None as soon as a rule fails."""
    square = generator.centre_square(height, width)
    target_mask, clean, scene = workspace.target_mask, workspace.clean, workspace.scene
    pixels = _object_pixels(target_mask, square)
    arm.place(motion.base, motion.yaw)
    poses: list[np.ndarray] = []
    for tip, heading in zip(motion.tips, motion.headings):  # posing is cheap: check it before rendering anything
        error = arm.reach(tip, heading)
        jump = np.abs(arm.positions - poses[-1]).max() if poses else 0.0
        if error > MAX_TIP_ERROR or jump > MAX_JOINT_STEP or arm.penetration() > MAX_PENETRATION:
            return None
        estimate = np.mean(renderer.first_hits(scene.camera, width, height, pixels) == arm.body)
        if not HIDDEN_SHARE_RANGE[0] + RAY_MARGIN <= estimate <= HIDDEN_SHARE_RANGE[1] - RAY_MARGIN:
            return None
        poses.append(arm.positions)
    views, shown, labels = [], [], []
    for pose in poses:
        arm.set_joints(pose)
        view = renderer.render(scene.camera, scene.light, width, height)
        visible = target_mask & np.isin(view.segmentation, renderer.target_ids)
        hidden = generator.hidden_share(target_mask[square], visible[square])
        if not HIDDEN_SHARE_RANGE[0] <= hidden <= HIDDEN_SHARE_RANGE[1]:
            return None
        views.append(view.rgb)
        shown.append(visible)
        labels.append(generator.scene_visibility(view.rgb, view.segmentation, clean.rgb, [arm.body]))
    in_square = [mask[square] for mask in shown]
    spread = [in_square[frame] for frame in spread_frames(len(in_square))]
    if not (generator.union_shows_more(in_square) and generator.union_shows_more(spread)):
        return None
    return generator.RenderedScene(clean.rgb, np.stack(views), target_mask, np.stack(shown), np.stack(labels))


def _object_pixels(target_mask: np.ndarray, square: tuple[slice, slice]) -> np.ndarray:
    """Up to RAY_SAMPLES target-object pixels [N,2] (row, column) of the centre square, evenly spread."""
    rows, columns = np.nonzero(target_mask[square])
    pixels = np.stack([rows + square[0].start, columns + square[1].start], axis=1)
    return pixels[:: max(1, len(pixels) // RAY_SAMPLES)]


class ArmBenchmark(Benchmark):
    """fusion_tabletop_arm with `frames` frames per item, for the render cache (see cache.Benchmark)."""

    name = "fusion_tabletop_arm"
    unit = "sequence"

    def __init__(self, frames: int = DEFAULT_FRAMES) -> None:
        """A benchmark of `frames`-frame sequences; DatasetError unless there are the NUM_VIEWS frames an item needs."""
        if frames < NUM_VIEWS:
            raise DatasetError(f"frames must be >= {NUM_VIEWS} (the views of an item), got {frames}")
        self.frames = frames

    @property
    def version(self) -> str:
        """This module's version and that of the workspace generator it builds on."""
        return f"{SEQUENCE_VERSION}.{generator.GENERATOR_VERSION}"

    def settings(self) -> dict[str, Any]:
        """The number of frames per sequence and the arms of each split."""
        return {"frames": self.frames, "arms": {split: list(arms) for split, arms in ARM_SPLITS.items()}}

    def command_options(self) -> str:
        """`--benchmark fusion_tabletop_arm`, and `--frames` when it is not the default."""
        frames = f" --frames {self.frames}" if self.frames != DEFAULT_FRAMES else ""
        return f" --benchmark {self.name}{frames}"

    def eval_views(self, views: np.ndarray) -> list[int]:
        """The newest frame and the two earlier ones the node's temporal source would fuse with it (select_frames)."""
        return select_frames(views)

    def render(
        self,
        renderer: TabletopRenderer,
        objects: list[str],
        split: str,
        rng: np.random.Generator,
        width: int,
        height: int,
    ) -> generator.RenderedScene:
        """One sequence of `split` (its arms and `objects`) drawn with `rng`, rendered at `width` x `height`."""
        return render_sequence(renderer, objects, ARM_SPLITS[split], rng, width, height, self.frames)
