"""Random draws of a tabletop scene (fixture, target objects, camera, light) and of per-view occluders.

Pure numpy: every number comes from the generator passed in, so a scene is a function of its seed. Units are
metres and radians in pybullet's world frame (z up); the table top lies at about z = 0.63.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIXTURES = ("table", "tray")
TARGET_COUNT = (1, 4)  # inclusive range of target objects per scene
OCCLUDER_COUNT = (1, 4)  # inclusive range of occluders per view
TARGET_SCALE = (0.9, 1.4)
OCCLUDER_SCALE = (0.8, 1.6)
WORKSPACE_HALF_EXTENT = {"table": (0.22, 0.16), "tray": (0.17, 0.17)}  # x, y half sizes where targets stand
MIN_TARGET_SPACING = 0.1
WORKSPACE_HEIGHT = 0.63
CAMERA_DISTANCE = (0.45, 0.7)
CAMERA_PITCH_DEG = (35.0, 65.0)  # downwards from the horizon
CAMERA_FOV_DEG = (45.0, 55.0)
LOOK_AT_JITTER = 0.05
LIGHT_ELEVATION_DEG = (30.0, 80.0)
OCCLUDER_DEPTH = (0.35, 0.7)  # fraction of the camera-to-object distance where an occluder floats
OCCLUDER_AIM_JITTER = 0.03
OCCLUDER_LATERAL_STD = 0.025


@dataclass(frozen=True)
class Camera:
    """A pinhole camera looking from `eye` at `look_at` (z up) with vertical field of view `fov_deg`."""

    eye: tuple[float, float, float]
    look_at: tuple[float, float, float]
    fov_deg: float


@dataclass(frozen=True)
class Light:
    """Directional light (unit `direction` towards the light), its colour and the shading coefficients."""

    direction: tuple[float, float, float]
    color: tuple[float, float, float]
    ambient: float
    diffuse: float
    specular: float


@dataclass(frozen=True)
class Placement:
    """One object: URDF path (relative to pybullet_data), scale, and a position and orientation (x,y,z,w).

    Target objects give only x, y of `position`; the renderer sets z so that they rest on the fixture.
    """

    urdf: str
    scale: float
    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float]


@dataclass(frozen=True)
class Scene:
    """A workspace: the fixture the targets stand on, its colour tint, the targets, the camera and the light."""

    fixture: str
    fixture_tint: tuple[float, float, float]
    targets: tuple[Placement, ...]
    camera: Camera
    light: Light


def draw_scene(
    rng: np.random.Generator, objects: list[str], camera_distance: tuple[float, float] = CAMERA_DISTANCE
) -> Scene:
    """A random scene with 1-4 distinct target objects from `objects`, spaced apart on the workspace, seen from
    `camera_distance` (metres, range) away."""
    fixture = FIXTURES[int(rng.integers(len(FIXTURES)))]
    tint = _triple(rng.uniform(0.6, 1.0, 3))
    count = int(rng.integers(TARGET_COUNT[0], TARGET_COUNT[1] + 1))
    names = rng.choice(len(objects), size=count, replace=False)
    spots = _spaced_spots(rng, count, WORKSPACE_HALF_EXTENT[fixture])
    targets = tuple(
        Placement(
            urdf=objects[int(name)],
            scale=float(rng.uniform(*TARGET_SCALE)),
            position=(float(x), float(y), WORKSPACE_HEIGHT),
            orientation=_resting_orientation(rng),
        )
        for name, (x, y) in zip(names, spots)
    )
    return Scene(fixture, tint, targets, _draw_camera(rng, camera_distance), _draw_light(rng))


def draw_occluders(
    rng: np.random.Generator,
    camera: Camera,
    target_centres: np.ndarray,
    objects: list[str],
    exclude: set[str],
) -> list[Placement]:
    """1-4 occluders floating between the camera and random target centres [N,3], in random orientations."""
    candidates = [name for name in objects if name not in exclude]
    count = int(rng.integers(OCCLUDER_COUNT[0], OCCLUDER_COUNT[1] + 1))
    eye = np.asarray(camera.eye)
    placements = []
    for name in rng.choice(len(candidates), size=count, replace=False):
        aim = target_centres[int(rng.integers(len(target_centres)))] + rng.normal(0.0, OCCLUDER_AIM_JITTER, 3)
        ray = aim - eye
        side, up = _perpendiculars(ray)
        lateral = rng.normal(0.0, OCCLUDER_LATERAL_STD, 2)
        position = eye + rng.uniform(*OCCLUDER_DEPTH) * ray + lateral[0] * side + lateral[1] * up
        quaternion = rng.normal(size=4)
        placements.append(
            Placement(
                urdf=candidates[int(name)],
                scale=float(rng.uniform(*OCCLUDER_SCALE)),
                position=_triple(position),
                orientation=_quadruple(quaternion / np.linalg.norm(quaternion)),
            )
        )
    return placements


def _draw_camera(rng: np.random.Generator, distance_range: tuple[float, float]) -> Camera:
    """Camera on a sphere around a jittered workspace centre, looking down at 35-65 degrees from any side."""
    look_at = np.array([*rng.uniform(-LOOK_AT_JITTER, LOOK_AT_JITTER, 2), WORKSPACE_HEIGHT])
    yaw = rng.uniform(0.0, 2 * np.pi)
    pitch = np.deg2rad(rng.uniform(*CAMERA_PITCH_DEG))
    distance = rng.uniform(*distance_range)
    direction = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    return Camera(_triple(look_at + distance * direction), _triple(look_at), float(rng.uniform(*CAMERA_FOV_DEG)))


def _draw_light(rng: np.random.Generator) -> Light:
    """A light from any azimuth at 30-80 degrees elevation, slightly tinted, with random shading weights."""
    azimuth = rng.uniform(0.0, 2 * np.pi)
    elevation = np.deg2rad(rng.uniform(*LIGHT_ELEVATION_DEG))
    direction = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    return Light(
        direction=_triple(direction),
        color=_triple(rng.uniform(0.85, 1.0, 3)),
        ambient=float(rng.uniform(0.45, 0.7)),
        diffuse=float(rng.uniform(0.35, 0.6)),
        specular=float(rng.uniform(0.0, 0.2)),
    )


def _spaced_spots(rng: np.random.Generator, count: int, half_extent: tuple[float, float]) -> list[np.ndarray]:
    """`count` x,y spots in the workspace at least MIN_TARGET_SPACING apart (the closest draw if none fits)."""
    spots: list[np.ndarray] = []
    while len(spots) < count:
        tries = [rng.uniform(-1.0, 1.0, 2) * half_extent for _ in range(20)]
        gaps = [min((float(np.linalg.norm(spot - other)) for other in spots), default=np.inf) for spot in tries]
        spots.append(tries[int(np.argmax(gaps))])
    return spots


def _resting_orientation(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """One of the six axis-aligned faces down, then a random turn about the vertical (quaternion x,y,z,w)."""
    quarter = np.pi / 2
    face_turns = ((0, 0), (np.pi, 0), (quarter, 0), (-quarter, 0), (0, quarter), (0, -quarter))
    roll, pitch = face_turns[int(rng.integers(len(face_turns)))]
    return quaternion_from_euler(roll, pitch, rng.uniform(0.0, 2 * np.pi))


def quaternion_from_euler(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """Quaternion (x,y,z,w) of the rotation yaw(z) * pitch(y) * roll(x), pybullet's Euler convention."""
    cr, sr = np.cos(roll / 2), np.sin(roll / 2)
    cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
    cy, sy = np.cos(yaw / 2), np.sin(yaw / 2)
    return _quadruple(
        np.array(
            [
                sr * cp * cy - cr * sp * sy,
                cr * sp * cy + sr * cp * sy,
                cr * cp * sy - sr * sp * cy,
                cr * cp * cy + sr * sp * sy,
            ]
        )
    )


def _perpendiculars(ray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to `ray` and to each other (ray is never vertical here)."""
    side = np.cross(ray, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    up = np.cross(side, ray)
    return side, up / np.linalg.norm(up)


def _triple(values: np.ndarray) -> tuple[float, float, float]:
    return float(values[0]), float(values[1]), float(values[2])


def _quadruple(values: np.ndarray) -> tuple[float, float, float, float]:
    return float(values[0]), float(values[1]), float(values[2]), float(values[3])
