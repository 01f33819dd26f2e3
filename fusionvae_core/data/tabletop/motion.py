"""Random arm motions over a tabletop workspace: where the arm stands and the path of its tool tip over T frames.

Pure numpy, like scene.py: every number comes from the generator passed in. The base stands on the table's rim,
facing the workspace, on the far side or a flank of the workspace as seen from the camera (never between camera and
table, where a real cell's camera would be in its way). The tip visits WAYPOINTS points in turn with minimum-jerk
reaches (it starts and stops at rest at each point, as a robot's point-to-point moves do), each reach taking a time
proportional to the square root of its length; the T frames sample that motion evenly in time. Every waypoint lies
on or just in front of the camera's line of sight to a target object, at a safe height over the table, so the hand
and forearm pass in front of the objects the camera watches (unless that is out of the arm's reach).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusionvae_core.data.tabletop.scene import WORKSPACE_HEIGHT, Camera

BASE_RADIUS = (0.42, 0.5)  # metres from the workspace centre: the rim of the 1.5 x 1.0 m table, clear of the tray
BASE_MAX_Y = 0.4  # the table's half depth (0.5) less the base's footprint: a base on the long side stands nearer
BASE_SPREAD_DEG = 100.0  # the base stands within this angle of the side opposite the camera
TABLE_TOP = 0.625  # height of pybullet_data's table.urdf top (a 5 cm box centred at 0.6)
BASE_LIFT = 0.002  # the base floats this far over the table top, so it never counts as entering the table
WAYPOINTS = (3, 4)  # inclusive range of points the tip visits
TIP_HEIGHT = (0.14, 0.3)  # tool tip over the table top: above every object, low enough to hide some
TOWARDS_CAMERA = (1.0, 1.3)  # waypoint: 0 above its object, 1 on the camera's line of sight to it, >1 nearer the camera
AIM_JITTER = 0.03


@dataclass(frozen=True)
class ArmMotion:
    """An arm's base (`base` position, `yaw` facing the workspace) and its tool tip's path: `tips` [T,3] with the
    tool's `headings` [T] (radians about the vertical, pointing away from the base)."""

    base: tuple[float, float, float]
    yaw: float
    tips: np.ndarray
    headings: np.ndarray


def draw_base(rng: np.random.Generator, camera: Camera) -> tuple[tuple[float, float, float], float]:
    """A base position on the table rim away from the camera, and the yaw that faces the workspace centre."""
    look_at, eye = np.asarray(camera.look_at), np.asarray(camera.eye)
    camera_azimuth = np.arctan2(eye[1] - look_at[1], eye[0] - look_at[0])
    azimuth = camera_azimuth + np.pi + np.deg2rad(rng.uniform(-BASE_SPREAD_DEG, BASE_SPREAD_DEG))
    radius = min(rng.uniform(*BASE_RADIUS), BASE_MAX_Y / max(abs(np.sin(azimuth)), 1e-9))
    x, y = radius * np.cos(azimuth), radius * np.sin(azimuth)
    return (float(x), float(y), TABLE_TOP + BASE_LIFT), float(np.arctan2(-y, -x))


def draw_motion(
    rng: np.random.Generator, reach: float, camera: Camera, target_centres: np.ndarray, frames: int
) -> ArmMotion:
    """A motion whose tip visits points between random target centres [N,3] and the camera, drawn in towards the
    base where they lie further than the arm's `reach` (metres, horizontally) from it."""
    base, yaw = draw_base(rng, camera)
    count = int(rng.integers(WAYPOINTS[0], WAYPOINTS[1] + 1))
    eye = np.asarray(camera.eye)
    waypoints = []
    for _ in range(count):
        aim = target_centres[int(rng.integers(len(target_centres)))] + [*rng.normal(0.0, AIM_JITTER, 2), 0.0]
        height = WORKSPACE_HEIGHT + rng.uniform(*TIP_HEIGHT)
        on_sight_line = (height - aim[2]) / (eye[2] - aim[2])  # fraction of the way from aim to eye at that height
        towards = rng.uniform(*TOWARDS_CAMERA) * on_sight_line * (eye[:2] - aim[:2])
        offset = aim[:2] + towards - base[:2]
        spot = base[:2] + offset * min(1.0, reach / np.linalg.norm(offset))  # within the arm's reach
        waypoints.append([*spot, height])
    tips = minimum_jerk_path(np.array(waypoints), frames)
    headings = np.arctan2(tips[:, 1] - base[1], tips[:, 0] - base[0])
    return ArmMotion(base, yaw, tips, headings)


def minimum_jerk_path(waypoints: np.ndarray, frames: int) -> np.ndarray:
    """Positions [frames,3] at evenly spaced times of point-to-point minimum-jerk moves through `waypoints` [W,3],
    each move lasting the square root of its length (first frame: the first waypoint, last frame: the last)."""
    durations = np.sqrt(np.linalg.norm(np.diff(waypoints, axis=0), axis=1)) + 1e-6
    ends = np.cumsum(durations)
    times = np.linspace(0.0, ends[-1], frames)
    moves = np.minimum(np.searchsorted(ends, times), len(durations) - 1)
    progress = np.clip((times - (ends[moves] - durations[moves])) / durations[moves], 0.0, 1.0)
    blend = progress**3 * (10.0 - 15.0 * progress + 6.0 * progress**2)
    return np.asarray(waypoints[moves] + blend[:, None] * (waypoints[moves + 1] - waypoints[moves]))
