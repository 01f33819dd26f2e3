"""The robot arms of fusion_tabletop_arm (pybullet_data's Panda, iiwa and xArm6) and posing one by inverse kinematics.

An arm is loaded into a TabletopRenderer's client with its base fixed on the table, then posed frame by frame:
pybullet's null-space inverse kinematics puts the tool tip at a point with the tool pointing down, starting from
the previous frame's joints (so the joints move smoothly along a smooth tip path) and pulled towards the arm's home
pose (so the elbow stays up); the solution is clipped to the joint limits and the tip error is measured after that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusionvae_core.data.tabletop.renderer import TabletopRenderer
from fusionvae_core.data.tabletop.scene import Placement, quaternion_from_euler

IK_ITERATIONS = 200
IK_RESIDUAL = 1e-4


@dataclass(frozen=True)
class ArmModel:
    """One arm: URDF (relative to pybullet_data), the link at the end of its kinematic chain, the tool length from
    that link's origin to the tool tip along the link's z axis, the home pose of the chain's joints, and its reach:
    how far (metres, horizontally) from the base it puts the tip 14-30 cm over the table with the tool pointing down
    (measured by posing it with `PosedArm.reach`, less 3 cm)."""

    urdf: str
    tip_link: int
    tool_length: float
    home: tuple[float, ...]
    reach: float


ARMS = {
    "panda": ArmModel("franka_panda/panda.urdf", 11, 0.0, (0.0, -0.6, 0.0, -2.4, 0.0, 1.9, 0.8), 0.72),
    "iiwa": ArmModel("kuka_iiwa/model.urdf", 6, 0.045, (0.0, 0.6, 0.0, -1.4, 0.0, 1.1, 0.0), 0.77),
    "xarm": ArmModel("xarm/xarm6_with_gripper.urdf", 6, 0.17, (0.0, -0.3, -1.0, 0.0, 1.3, 0.0), 0.62),
}

ARM_SPLITS = {"train": ("panda", "iiwa"), "val": ("panda", "iiwa"), "test": ("xarm",)}  # why: see sequence.py


class PosedArm:
    """An arm loaded into `renderer`'s client; `place` stands it somewhere, `reach` poses it, `remove` unloads it."""

    def __init__(self, renderer: TabletopRenderer, model: ArmModel) -> None:
        """Load `model` (its base fixed; `place` it before posing)."""
        self.renderer, self.model = renderer, model
        pb, client = renderer.pb, renderer.client
        (self.body,) = renderer.add([Placement(model.urdf, 1.0, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))])
        count = pb.getNumJoints(self.body, physicsClientId=client)
        infos = [pb.getJointInfo(self.body, joint, physicsClientId=client) for joint in range(count)]
        self.joints = [info[0] for info in infos if info[2] != pb.JOINT_FIXED]
        self.lower = np.array([infos[joint][8] for joint in self.joints])
        self.upper = np.array([infos[joint][9] for joint in self.joints])
        self.home = np.zeros(len(self.joints))
        self.home[: len(model.home)] = model.home  # the chain's joints come first; tool joints (fingers) stay at 0
        self.positions = self.home

    def place(self, base: tuple[float, float, float], yaw: float) -> None:
        """Stand the base at `base`, turned by `yaw` about the vertical, in the home pose."""
        pb, client = self.renderer.pb, self.renderer.client
        inertial = pb.getDynamicsInfo(self.body, -1, physicsClientId=client)[3:5]
        centre = pb.multiplyTransforms(base, quaternion_from_euler(0.0, 0.0, yaw), *inertial)
        pb.resetBasePositionAndOrientation(self.body, *centre, physicsClientId=client)  # takes the inertial frame
        self.set_joints(self.home)

    def reach(self, tip: np.ndarray, heading: float) -> float:
        """Pose the arm, starting from its current joints, with its tool tip at `tip` [3] pointing down, turned by
        `heading` about the vertical; returns the distance (m) between `tip` and where the tip ended up within the
        joint limits."""
        pb, client = self.renderer.pb, self.renderer.client
        flange = np.asarray(tip) + np.array([0.0, 0.0, self.model.tool_length])  # the tool points straight down
        solution = pb.calculateInverseKinematics(
            self.body,
            self.model.tip_link,
            flange.tolist(),
            quaternion_from_euler(np.pi, 0.0, heading),
            lowerLimits=self.lower.tolist(),
            upperLimits=self.upper.tolist(),
            jointRanges=(self.upper - self.lower).tolist(),
            restPoses=self.home.tolist(),
            maxNumIterations=IK_ITERATIONS,
            residualThreshold=IK_RESIDUAL,
            physicsClientId=client,
        )
        self.set_joints(np.clip(solution, self.lower, self.upper))
        reached = pb.getLinkState(self.body, self.model.tip_link, computeForwardKinematics=True, physicsClientId=client)
        return float(np.linalg.norm(np.asarray(reached[4]) - flange))

    def penetration(self) -> float:
        """How deep (m) the arm reaches into any other body of the scene (0 when it touches none)."""
        pb, client = self.renderer.pb, self.renderer.client
        others = [pb.getBodyUniqueId(i, physicsClientId=client) for i in range(pb.getNumBodies(physicsClientId=client))]
        points = [
            point
            for body in others
            if body != self.body
            for point in pb.getClosestPoints(self.body, body, 0.0, physicsClientId=client)
        ]
        return max((-point[8] for point in points), default=0.0)

    def set_joints(self, positions: np.ndarray) -> None:
        """Set the movable joints to `positions` (no physics: the pose is drawn as set)."""
        self.positions = np.asarray(positions, dtype=float)
        for joint, position in zip(self.joints, self.positions):
            self.renderer.pb.resetJointState(self.body, joint, float(position), physicsClientId=self.renderer.client)

    def remove(self) -> None:
        """Take the arm out of the scene."""
        self.renderer.remove([self.body])
