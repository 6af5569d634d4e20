"""The Franka Panda with the Franka Hand, as a kinematic model in pybullet: IK and FK of the TCP.

The model is pybullet_data's ``franka_panda/panda.urdf``; the TCP is its ``panda_grasptarget`` link,
whose axes follow binpick's gripper convention (z the approach out of the hand, y the closing
direction of the fingers). All poses are in the robot base frame (``panda_link0``), metres.
"""
from __future__ import annotations

import numpy as np
import pybullet as pb

from binpick.geometry import make_T, matrix_from_quat, quat_from_matrix, rotation_angle
from binpick.sim.pybullet_client import PybulletClient

ARM_JOINTS = tuple(range(7))
TCP_LINK = 11
# a comfortable pose above a tote in front of the robot: the IK's rest posture and first guess
READY_Q = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 2.0, np.pi / 4])


class PandaArm(PybulletClient):
    """Kinematics of one Panda (own pybullet client) and its planning scene. ``ik`` returns joint angles
    within the limits whose TCP is within ``tol_m`` and ``tol_rad`` of the target, or None.

    ``obstacles``: boxes the arm must keep clear of, as (half extents, ``T_base_box``) in the base frame
    (the tote's floor and walls); ``arm_is_free`` tests a configuration against them.
    """

    def __init__(self, tol_m: float = 0.002, tol_rad: float = np.deg2rad(2.0),
                 obstacles: list[tuple[tuple[float, float, float], np.ndarray]] = ()) -> None:
        super().__init__()
        import pybullet_data
        pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=self.client)
        self.robot = pb.loadURDF('franka_panda/panda.urdf', useFixedBase=True, physicsClientId=self.client)
        info = [pb.getJointInfo(self.robot, j, physicsClientId=self.client) for j in ARM_JOINTS]
        self.lower = np.array([i[8] for i in info])
        self.upper = np.array([i[9] for i in info])
        self.tol_m, self.tol_rad = tol_m, tol_rad
        self.obstacles = []
        for half, T in obstacles:
            shape = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=list(half), physicsClientId=self.client)
            self.obstacles.append(pb.createMultiBody(0, shape, basePosition=T[:3, 3].tolist(),
                                                     baseOrientation=quat_from_matrix(T[:3, :3]).tolist(),
                                                     physicsClientId=self.client))
        self.set_joints(READY_Q)

    def arm_is_free(self, q: np.ndarray, margin_m: float = 0.003) -> bool:
        """The arm and hand at ``q`` stay ``margin_m`` clear of every obstacle (the planner's validity test)."""
        self.set_joints(q)
        return not any(pb.getClosestPoints(self.robot, body, margin_m, physicsClientId=self.client)
                       for body in self.obstacles)

    def set_joints(self, q: np.ndarray) -> None:
        for j, v in zip(ARM_JOINTS, q):
            pb.resetJointState(self.robot, j, float(v), physicsClientId=self.client)

    def fk(self, q: np.ndarray) -> np.ndarray:
        """``T_base_tcp`` for the arm's joint angles ``q`` (7, radians)."""
        self.set_joints(q)
        state = pb.getLinkState(self.robot, TCP_LINK, computeForwardKinematics=True, physicsClientId=self.client)
        return make_T(matrix_from_quat(np.array(state[5])), np.array(state[4]))   # the link frame, not its inertia

    def ik(self, T_base_tcp: np.ndarray, seed_q: np.ndarray | None = None, attempts: int = 3) -> np.ndarray | None:
        """Joint angles (7, radians, within the limits) that put the TCP at ``T_base_tcp``, or None."""
        if not np.isfinite(T_base_tcp).all():
            return None
        rng = np.random.default_rng(0)
        start = READY_Q if seed_q is None else np.asarray(seed_q, dtype=np.float64)
        for k in range(attempts):
            guess = start if k == 0 else rng.uniform(self.lower, self.upper)
            self.set_joints(guess)
            q = np.array(pb.calculateInverseKinematics(
                self.robot, TCP_LINK, T_base_tcp[:3, 3].tolist(), quat_from_matrix(T_base_tcp[:3, :3]).tolist(),
                lowerLimits=self.lower.tolist(), upperLimits=self.upper.tolist(),
                jointRanges=(self.upper - self.lower).tolist(), restPoses=READY_Q.tolist(),
                maxNumIterations=200, residualThreshold=1e-5, physicsClientId=self.client))[:7]
            if np.any(q < self.lower - 1e-6) or np.any(q > self.upper + 1e-6):
                continue
            T = self.fk(q)
            if (np.linalg.norm(T[:3, 3] - T_base_tcp[:3, 3]) <= self.tol_m
                    and rotation_angle(T[:3, :3].T @ T_base_tcp[:3, :3]) <= self.tol_rad):
                return q
        return None

    def reachable(self, T_base_tcp: np.ndarray, attempts: int = 1) -> bool:
        """Whether the TCP can be placed at ``T_base_tcp`` (a ``plan_grasps`` ``reachable`` test; one IK
        attempt from the rest posture, as grasps are many and the planner tries again from the start)."""
        return self.ik(T_base_tcp, attempts=attempts) is not None
