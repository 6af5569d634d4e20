"""The simulated cell with a robot: a Franka Panda with the Franka Hand beside the tote, in the same
pybullet world as the parts, executing pick plans with physics.

The arm follows joint paths under position control; the fingers close with a force limit and
friction, so a pick can fail for real (the part slips, the fingers close on nothing, the hand hits
the tote). The camera is fixed above the tote; the robot stands where the cell's hand-eye calibration
(``CellConfig.T_base_cam``, from ``config/cell.yaml``) says. Frames:
world (z up, origin at the centre of the tote floor), base (``panda_link0``), camera (OpenCV); metres.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pybullet as pb

from binpick.catalog.catalog import CatalogObject
from binpick.geometry import invert, quat_from_matrix
from binpick.grasp.candidates import Tote
from binpick.grasp.motion import PickPlan
from binpick.sim.bin_physics import TIME_STEP_S
from binpick.sim.cell import SimCell, StereoCapture
from binpick.sim.generator import CellConfig
from binpick.sim.hand import GRIP_FORCE_N, pad_fingers
from binpick.sim.robot import ARM_JOINTS, READY_Q, PandaArm

FINGER_JOINTS = (9, 10)
FINGER_LINKS = (9, 10)
ARM_FORCES_N = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)   # the Panda's joint torque limits (N m)
Q_HOME = READY_Q                                   # above the tote, out of the way of nothing but the camera
Q_PLACE = READY_Q + np.array([np.pi / 2, 0, 0, 0, 0, 0, 0])   # beside the tote: joint 1 turned 90 degrees


@dataclass
class PickOutcome:
    """What happened when a plan was executed.

    ``reason``: '' on success, else ``wrong pose`` (the fingers closed on nothing), ``slipped`` (a part
    was between the fingers but not held to the place), ``picked several parts``, or ``collision`` (the
    part was placed, but the arm or hand touched the tote: a failure all the same); ``instance``: the part
    placed; ``tote_contacts``: simulation steps in which the arm or hand touched the tote; ``tcp_error_m``: how
    far the TCP was from the approach's last waypoint when the fingers began to close (metres).
    """

    success: bool
    reason: str
    instance: int | None
    tote_contacts: int
    sim_s: float
    tcp_error_m: float = 0.0


class PickCell:
    """A :class:`SimCell` (fixed camera) with a Panda in its physics world.

    Args:
        obj, cell, fill, seed: as :class:`SimCell`.
        grip_force_n: the force each finger closes with (the Franka Hand: 70 N continuous in all).
    """

    def __init__(self, obj: CatalogObject, cell: CellConfig, fill: str = 'full', seed: int = 0,
                 grip_force_n: float = GRIP_FORCE_N, refill_every: int = 0) -> None:
        self.sim = SimCell(obj, cell, fill=fill, seed=seed, refill_every=refill_every, fixed_camera=True)
        self.T_base_cam = np.asarray(cell.T_base_cam, dtype=np.float64)
        self.T_world_base = invert(cell.T_base_tote)             # the world frame is the tote's
        self.kinematics = PandaArm(obstacles=cell.tote_boxes())
        self.tote = Tote(cell.T_base_tote, cell.bin.inner_size_m)
        self.grip_force_n = grip_force_n
        self.q = Q_HOME.copy()
        self.fingers_m = 0.04
        self.steps = 0                  # simulation steps run by the robot so far
        self._robot_world = None
        self.robot = -1

    # -- the world ------------------------------------------------------------------------------------
    @property
    def client(self) -> int:
        return self.sim.physics.client

    def capture(self) -> StereoCapture:
        """A stereo capture (the arm is not drawn, and stays where its last motion left it); the bin refills
        when empty, and the robot is loaded into the new world where it was."""
        cap = self.sim.capture()
        if self._attach():
            self._set_arm(self.q, self.fingers_m)
        return cap

    def _attach(self) -> bool:
        """Load the robot into the current physics world (a refill makes a new one); True when it did."""
        if self._robot_world is self.sim.physics:      # client ids are reused: compare the worlds
            return False
        import pybullet_data
        pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=self.client)
        self.robot = pb.loadURDF('franka_panda/panda.urdf', self.T_world_base[:3, 3].tolist(),
                                 quat_from_matrix(self.T_world_base[:3, :3]).tolist(), useFixedBase=True,
                                 physicsClientId=self.client)
        pad_fingers(self.client, self.robot, FINGER_LINKS)
        self._robot_world = self.sim.physics
        return True

    def _set_arm(self, q: np.ndarray, finger_m: float = 0.04) -> None:
        """Put the arm at ``q`` at rest (no simulation), fingers at ``finger_m`` each."""
        for j, v in zip(ARM_JOINTS, q):
            pb.resetJointState(self.robot, j, float(v), 0.0, physicsClientId=self.client)
        for j in FINGER_JOINTS:
            pb.resetJointState(self.robot, j, finger_m, 0.0, physicsClientId=self.client)
        self._command_arm(q)
        self._command_fingers(finger_m)
        self.q = np.asarray(q, dtype=np.float64).copy()
        self.fingers_m = float(finger_m)

    # -- execution ------------------------------------------------------------------------------------
    def _command_arm(self, q: np.ndarray) -> None:
        pb.setJointMotorControlArray(self.robot, list(ARM_JOINTS), pb.POSITION_CONTROL, targetPositions=list(q),
                                     forces=list(ARM_FORCES_N), physicsClientId=self.client)

    def _command_fingers(self, each_m: float) -> None:
        """Move each finger to ``each_m`` from the centre, pushing with at most the grip force."""
        force_n = self.grip_force_n
        pb.setJointMotorControlArray(self.robot, list(FINGER_JOINTS), pb.POSITION_CONTROL,
                                     targetPositions=[each_m, each_m], forces=[force_n, force_n],
                                     physicsClientId=self.client)

    def _step(self, n: int) -> int:
        """Step the world ``n`` times; returns in how many steps the robot touched the tote."""
        touching = 0
        self.steps += n
        for _ in range(n):
            pb.stepSimulation(physicsClientId=self.client)
            touching += any(pb.getContactPoints(self.robot, body, physicsClientId=self.client)
                            for body in self.sim.physics.bin_bodies)
        self.q = self._arm_joints()     # what the joint encoders read (``joint_positions``)
        self.fingers_m = float(pb.getJointState(self.robot, FINGER_JOINTS[0], physicsClientId=self.client)[0])
        return touching

    def _drive(self, path: np.ndarray, steps_per_waypoint: int = 4, settle_steps: int = 60,
               tol_rad: float = 0.01) -> int:
        """Follow a joint path under position control, then wait up to ``settle_steps`` for every joint to be
        within ``tol_rad`` of the last waypoint; returns the steps touching the tote."""
        touching = 0
        for q in path:
            self._command_arm(q)
            touching += self._step(steps_per_waypoint)
        for _ in range(settle_steps // 10):       # let the arm catch up with the last waypoint
            if np.abs(self._arm_joints() - path[-1]).max() < tol_rad:
                break
            touching += self._step(10)
        self.q = self._arm_joints()
        return touching

    def _arm_joints(self) -> np.ndarray:
        return np.array([pb.getJointState(self.robot, j, physicsClientId=self.client)[0] for j in ARM_JOINTS])

    def _between_fingers(self) -> set[int]:
        """Bodies (part indices) both fingers touch."""
        touched = [{c[2] for c in pb.getContactPoints(self.robot, linkIndexA=link, physicsClientId=self.client)}
                   for link in FINGER_LINKS]
        bodies = touched[0] & touched[1]
        return {self.sim.physics.bodies.index(b) for b in bodies if b in self.sim.physics.bodies}

    # -- one motion at a time (what a ros2_control robot is driven with) --------------------------------
    def joint_positions(self) -> tuple[np.ndarray, float]:
        """The arm's joints (7, radians) and each finger's distance from the centre (metres), as the last
        simulation step left them; safe to read from another thread."""
        return self.q.copy(), self.fingers_m

    def follow(self, path: np.ndarray, seconds_per_point: float = 0.0, stop=None) -> int:
        """Drive the arm along a joint path (n x 7, radians) to within 0.001 rad of its end, no faster than
        ``seconds_per_point`` of wall time per waypoint (a trajectory's timing; 0: as fast as physics runs);
        ``stop()``, asked between waypoints, halts the arm where it is (a cancelled goal). Returns the steps in
        which the arm touched the tote."""
        path = np.asarray(path, dtype=np.float64).reshape(-1, 7)
        touching, chunk, t0 = 0, 15, time.monotonic()
        for k in range(0, len(path), chunk):
            if stop is not None and stop():
                self._command_arm(self.q)
                return touching
            last = k + chunk >= len(path)
            touching += self._drive(path[k:k + chunk], settle_steps=240 if last else 0, tol_rad=0.001)
            time.sleep(max(0.0, t0 + min(k + chunk, len(path)) * seconds_per_point - time.monotonic()))
        return touching

    def grip(self, opening_m: float) -> list[int]:
        """Move the fingers to ``opening_m`` apart (0: close on whatever is between; force-limited), 0.5 s.
        A part let go outside the tote falls beside it and leaves the cell; returns the instances that did."""
        held = self._between_fingers()
        self._command_fingers(min(0.04, max(0.0, opening_m / 2)))
        self._step(120)
        if not held or self._between_fingers():
            return []
        self._step(120)                             # let it fall
        return self.sim.remove_outside()

    def execute(self, plan: PickPlan, opening_m: float) -> PickOutcome:
        """Run a pick plan: open the fingers ``opening_m`` apart, transit, approach, close, lift, place; a
        part held at the place leaves the cell (the rest settle). The arm ends at home."""
        steps0 = self.steps
        self._command_fingers(min(0.04, opening_m / 2))
        # the fingers close once the arm is at the grasp (0.01 rad left the TCP up to 3 mm short of it)
        contacts = self._drive(plan.transit) + self._drive(plan.approach, settle_steps=240, tol_rad=0.001)
        fk = self.kinematics.fk
        tcp_error_m = float(np.linalg.norm(fk(self.q)[:3, 3] - fk(plan.approach[-1])[:3, 3]))
        self._command_fingers(0.0)
        contacts += self._step(120)                 # 0.5 s to close
        between = self._between_fingers()
        contacts += self._drive(plan.lift) + self._drive(plan.place)
        held = self._between_fingers()
        sim_s = (self.steps - steps0) * TIME_STEP_S
        instance = None
        if len(held) == 1:
            instance = self.sim.instance_ids[held.pop()]
            self.sim.remove(instance)               # released beside the tote: it leaves the cell
            reason = 'collision' if contacts else ''
        else:
            reason = 'picked several parts' if held else ('slipped' if between else 'wrong pose')
        outcome = PickOutcome(not reason, reason, instance, contacts, sim_s, tcp_error_m)
        self.sim.remove_outside()                  # parts dragged out of the tote and dropped
        self._set_arm(Q_HOME)
        return outcome

    def close(self) -> None:
        self.kinematics.close()
        self.sim.close()

    def __enter__(self) -> PickCell:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
