"""pybullet's CPU TinyRenderer in headless DIRECT mode: builds a scene, renders RGB + segmentation, adds occluders,
casts camera rays.

Occlusion, shading and the occluders' shadows come from the renderer; the segmentation output (one body id per
pixel) tells which pixels show a target object. One TabletopRenderer owns one physics client.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fusionvae_core.data.tabletop.objects import load_pybullet, pybullet_data_dir
from fusionvae_core.data.tabletop.scene import Camera, Light, Placement, Scene

FLOOR_URDF = "plane.urdf"
FIXTURE_URDFS = {"table": "table/table.urdf", "tray": "tray/traybox.urdf"}
NEAR_PLANE, FAR_PLANE = 0.02, 5.0
RAY_TOP, RAY_BOTTOM = 2.0, 0.0  # vertical ray (z) that finds the surface a target object rests on
REST_GAP = 1e-3


class Render(NamedTuple):
    """One image: `rgb` uint8 [H,W,3] and `segmentation` int32 [H,W] (pybullet body id per pixel, -1 = none)."""

    rgb: np.ndarray
    segmentation: np.ndarray


class TabletopRenderer:
    """A pybullet DIRECT client that holds one scene at a time; call `close` (or use `with`) when done."""

    def __init__(self) -> None:
        """Connect a headless client with pybullet_data on its search path."""
        self.pb = load_pybullet()
        self.client = self.pb.connect(self.pb.DIRECT)
        self.pb.setAdditionalSearchPath(str(pybullet_data_dir()), physicsClientId=self.client)
        self.target_ids: list[int] = []

    def __enter__(self) -> TabletopRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect the client."""
        if self.pb.isConnected(self.client):
            self.pb.disconnect(self.client)

    def build(self, scene: Scene) -> np.ndarray:
        """Replace the current scene by `scene`; returns the target objects' world centres [N,3]."""
        pb, client = self.pb, self.client
        pb.resetSimulation(physicsClientId=client)
        pb.loadURDF(FLOOR_URDF, useFixedBase=True, physicsClientId=client)
        table = pb.loadURDF(FIXTURE_URDFS["table"], useFixedBase=True, physicsClientId=client)
        pb.changeVisualShape(table, -1, rgbaColor=[*scene.fixture_tint, 1.0], physicsClientId=client)
        if scene.fixture == "tray":
            table_top = pb.getAABB(table, physicsClientId=client)[1][2]
            pb.loadURDF(FIXTURE_URDFS["tray"], [0.0, 0.0, table_top], useFixedBase=True, physicsClientId=client)
        self.target_ids = [self._rest_on_surface(target) for target in scene.targets]
        return np.array([self._centre(body) for body in self.target_ids])

    def add(self, placements: list[Placement]) -> list[int]:
        """Load `placements` at their full poses (occluders); returns their body ids."""
        return [self._load(placement) for placement in placements]

    def remove(self, bodies: list[int]) -> None:
        """Remove bodies added with `add`."""
        for body in bodies:
            self.pb.removeBody(body, physicsClientId=self.client)

    def render(self, camera: Camera, light: Light, width: int, height: int) -> Render:
        """Render the current scene with TinyRenderer (shadows on) at width x height."""
        pb = self.pb
        view = pb.computeViewMatrix(camera.eye, camera.look_at, [0.0, 0.0, 1.0], physicsClientId=self.client)
        projection = pb.computeProjectionMatrixFOV(
            camera.fov_deg, width / height, NEAR_PLANE, FAR_PLANE, physicsClientId=self.client
        )
        _, _, rgba, _, segmentation = pb.getCameraImage(
            width,
            height,
            view,
            projection,
            lightDirection=list(light.direction),
            lightColor=list(light.color),
            lightAmbientCoeff=light.ambient,
            lightDiffuseCoeff=light.diffuse,
            lightSpecularCoeff=light.specular,
            shadow=1,
            renderer=pb.ER_TINY_RENDERER,
            physicsClientId=self.client,
        )
        rgb = np.ascontiguousarray(np.reshape(rgba, (height, width, 4))[:, :, :3], dtype=np.uint8)
        return Render(rgb, np.reshape(segmentation, (height, width)).astype(np.int32))

    def first_hits(self, camera: Camera, width: int, height: int, pixels: np.ndarray) -> np.ndarray:
        """Body id [N] that the camera ray through each pixel [N,2] (row, column) of a width x height render meets
        first (-1: none), on the collision shapes: a cheap stand-in for the segmentation of a render."""
        eye = np.asarray(camera.eye)
        forward = np.asarray(camera.look_at) - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        half_height = np.tan(np.deg2rad(camera.fov_deg) / 2)  # pybullet's field of view is vertical
        x = (2 * (pixels[:, 1] + 0.5) / width - 1) * half_height * width / height
        y = (1 - 2 * (pixels[:, 0] + 0.5) / height) * half_height
        directions = forward + x[:, None] * right + y[:, None] * up
        ends = eye + FAR_PLANE * directions / np.linalg.norm(directions, axis=1, keepdims=True)
        hits = self.pb.rayTestBatch([eye.tolist()] * len(ends), ends.tolist(), physicsClientId=self.client)
        return np.array([hit[0] for hit in hits], dtype=int)

    def _load(self, placement: Placement) -> int:
        return int(
            self.pb.loadURDF(
                placement.urdf,
                placement.position,
                placement.orientation,
                useFixedBase=True,
                globalScaling=placement.scale,
                physicsClientId=self.client,
            )
        )

    def _rest_on_surface(self, placement: Placement) -> int:
        """Load a target, then move it so its bounding box is centred on its x, y and rests on what lies below."""
        x, y, _ = placement.position
        hit = self.pb.rayTest([x, y, RAY_TOP], [x, y, RAY_BOTTOM], physicsClientId=self.client)[0]
        surface = hit[3][2] if hit[0] >= 0 else placement.position[2]
        body = self._load(placement)
        low, high = (np.array(corner) for corner in self.pb.getAABB(body, physicsClientId=self.client))
        base = np.array(self.pb.getBasePositionAndOrientation(body, physicsClientId=self.client)[0])
        wanted_corner = np.array([x, y, surface + REST_GAP])
        position = base + wanted_corner - np.array([*(low[:2] + high[:2]) / 2, low[2]])
        self.pb.resetBasePositionAndOrientation(
            body, position.tolist(), placement.orientation, physicsClientId=self.client
        )
        return body

    def _centre(self, body: int) -> np.ndarray:
        low, high = self.pb.getAABB(body, physicsClientId=self.client)
        return (np.array(low) + np.array(high)) / 2
