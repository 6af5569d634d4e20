"""The Franka Hand in pybullet, and the physics test of which CAD grasps hold a part.

The geometric grasp sampler (``grasp/antipodal.py``) knows contacts and collisions, not dynamics: a grasp
near the end of a long part passes every check and then lets the part turn out of the fingers when the
arm lifts and swings it (most of the slips of the ground-truth pick bench on 2026-11-27 were two such grasps
of the zigzag_bracket). :func:`hold_rates` tries every grasp with the hand alone, floating in an empty
world: the part rests where the grasp says (with a small pose error drawn per trial, as a pose estimate
has), the fingers close with the cell's grip force, gravity comes on, and the hand lifts and swings the
part as the arm does on its way to the place. A grasp holds when both fingers still touch the part.

The finger settings (pad friction, grip force, coupling) are the pick cell's (``sim/pick_cell.py``).
Frames: world z up; the TCP (``panda_grasptarget``) 0.105 m along the hand's z; metres.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pybullet as pb

from binpick.geometry import axis_angle, invert, make_T, quat_from_matrix
from binpick.sim.bin_physics import TIME_STEP_S, part_dynamics, part_mass_kg
from binpick.sim.pybullet_client import PybulletClient

GRIP_FORCE_N = 35.0                # each finger (the Franka Hand: 70 N continuous in all)
PAD_FRICTION = {'lateralFriction': 1.5, 'spinningFriction': 0.01}   # rubber pads; with the parts' 0.5: 0.75
T_HAND_TCP = make_T(np.eye(3), [0.0, 0.0, 0.105])
HAND_COM_Z_M = 0.04                # the hand link's centre of mass on its z axis (panda.urdf)
CLOSE_STEPS, LIFT_STEPS, SWING_STEPS, HOLD_STEPS = 120, 120, 300, 120   # 0.5 s, 0.5 s, 1.25 s, 0.5 s
LIFT_M, SWING_RADIUS_M = 0.15, 0.5


def pad_fingers(client: int, body: int, finger_links: tuple[int, int]) -> None:
    """Rubber pads on both fingers, and the fingers coupled like the real hand's (one closes as far as the
    other, so closing centres the part instead of pushing it aside)."""
    for link in finger_links:
        pb.changeDynamics(body, link, **PAD_FRICTION, physicsClientId=client)
    gear = pb.createConstraint(body, finger_links[0], body, finger_links[1], pb.JOINT_GEAR, [0, 1, 0], [0, 0, 0],
                               [0, 0, 0], physicsClientId=client)
    pb.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=50, physicsClientId=client)


def _hand_urdf() -> Path:
    """The hand and fingers of pybullet_data's Panda as a URDF of their own (mesh paths made absolute)."""
    import pybullet_data
    folder = Path(pybullet_data.getDataPath()) / 'franka_panda'
    text = (folder / 'panda.urdf').read_text()
    body = text[text.index('<link name="panda_hand">'):text.index('</robot>')]
    body = body.replace('package://meshes', str(folder / 'meshes'))
    path = Path(tempfile.mkdtemp(prefix='binpick_hand_')) / 'franka_hand.urdf'
    path.write_text(f'<?xml version="1.0"?>\n<robot name="franka_hand">\n{body}</robot>\n')
    return path


class FloatingHand(PybulletClient):
    """A Franka Hand held by a constraint in an empty world, with one part to grasp."""

    FINGERS = (0, 1)

    def __init__(self, obj, grip_force_n: float = GRIP_FORCE_N) -> None:
        super().__init__()
        pb.setTimeStep(TIME_STEP_S, physicsClientId=self.client)
        urdf = _hand_urdf()
        self.hand = pb.loadURDF(str(urdf), physicsClientId=self.client)
        urdf.unlink()
        urdf.parent.rmdir()
        pad_fingers(self.client, self.hand, self.FINGERS)
        self.holder = pb.createConstraint(self.hand, -1, -1, -1, pb.JOINT_FIXED, [0, 0, 0], [0, 0, -HAND_COM_Z_M],
                                          [0, 0, 0], physicsClientId=self.client)
        shape = pb.createCollisionShape(pb.GEOM_MESH, fileName=str(obj.collision_path), physicsClientId=self.client)
        self.part = pb.createMultiBody(part_mass_kg(obj), shape, physicsClientId=self.client)
        part_dynamics(self.client, self.part)
        self.grip_force_n = grip_force_n

    def _hold_hand_at(self, T_world_hand: np.ndarray) -> None:
        pb.changeConstraint(self.holder, T_world_hand[:3, 3].tolist(), quat_from_matrix(T_world_hand[:3, :3]).tolist(),
                            maxForce=1000, physicsClientId=self.client)

    def _step(self, n: int) -> None:
        for _ in range(n):
            pb.stepSimulation(physicsClientId=self.client)

    def holding(self) -> bool:
        """Both fingers touch the part."""
        return all(pb.getContactPoints(self.hand, self.part, linkIndexA=link, physicsClientId=self.client)
                   for link in self.FINGERS)

    def trial(self, T_obj_grasp: np.ndarray, width_m: float, T_grasp_error: np.ndarray,
              R_world_obj: np.ndarray | None = None) -> bool:
        """Grasp the part at ``T_obj_grasp`` (missed by ``T_grasp_error``, in the grasp frame), lift it, swing it
        a quarter turn about an axis ``SWING_RADIUS_M`` away; returns whether it is still held. The part is
        turned by ``R_world_obj`` (z up: how it lay when grasped; default unturned)."""
        c = self.client
        pb.setGravity(0, 0, 0, physicsClientId=c)
        T_world_obj = make_T(np.eye(3) if R_world_obj is None else R_world_obj, [SWING_RADIUS_M, 0.0, 0.5])
        T_world_hand = T_world_obj @ T_obj_grasp @ T_grasp_error @ invert(T_HAND_TCP)
        com = T_world_hand @ np.array([0.0, 0.0, HAND_COM_Z_M, 1.0])
        pb.resetBasePositionAndOrientation(self.hand, com[:3].tolist(), quat_from_matrix(T_world_hand[:3, :3]).tolist(),
                                           physicsClientId=c)
        pb.resetBaseVelocity(self.hand, [0, 0, 0], [0, 0, 0], physicsClientId=c)
        self._hold_hand_at(T_world_hand)
        opening = min(0.04, (width_m + 0.01) / 2)
        for j in self.FINGERS:
            pb.resetJointState(self.hand, j, opening, 0.0, physicsClientId=c)
        pb.resetBasePositionAndOrientation(self.part, T_world_obj[:3, 3].tolist(),
                                           quat_from_matrix(T_world_obj[:3, :3]).tolist(), physicsClientId=c)
        pb.resetBaseVelocity(self.part, [0, 0, 0], [0, 0, 0], physicsClientId=c)
        pb.setJointMotorControlArray(self.hand, list(self.FINGERS), pb.POSITION_CONTROL, targetPositions=[0.0, 0.0],
                                     forces=[self.grip_force_n] * 2, physicsClientId=c)
        self._step(CLOSE_STEPS)
        if not self.holding():
            return False
        pb.setGravity(0, 0, -9.81, physicsClientId=c)
        for k in range(1, LIFT_STEPS + 1):
            T = T_world_hand.copy()
            T[2, 3] += LIFT_M * k / LIFT_STEPS
            self._hold_hand_at(T)
            self._step(1)
        for k in range(1, SWING_STEPS + 1):       # about the world z axis, as joint 1 turns to the place
            self._hold_hand_at(make_T(axis_angle(np.array([0.0, 0.0, 1.0]), np.pi / 2 * k / SWING_STEPS),
                                      np.zeros(3)) @ T)
            self._step(1)
        self._step(HOLD_STEPS)
        return self.holding()

    def hold_rate(self, T_obj_grasp: np.ndarray, width_m: float, trials: int, rng: np.random.Generator,
                  R_world_obj: np.ndarray | None = None, error_m: float = 0.002, error_deg: float = 3.0) -> float:
        """The share of ``trials`` of :meth:`trial` that hold: the first exact, the others missing the grasp by
        up to ``error_m`` and ``error_deg`` (uniform, drawn from ``rng``), as a pose estimate or a grasp read
        off a depth image does."""
        return float(np.mean([self.trial(T_obj_grasp, width_m, np.eye(4) if t == 0 else
                                         _grasp_error(rng, error_m, error_deg), R_world_obj)
                              for t in range(trials)]))


def _grasp_error(rng: np.random.Generator, error_m: float, error_deg: float) -> np.ndarray:
    axis = rng.normal(size=3)
    return make_T(axis_angle(axis / np.linalg.norm(axis), np.deg2rad(error_deg) * rng.uniform(-1, 1)),
                  rng.uniform(-1, 1, 3) * error_m)


def hold_rates(obj, grasps: list, trials: int = 5, error_m: float = 0.002, error_deg: float = 3.0,
               seed: int = 0, progress: bool = False) -> np.ndarray:
    """For each grasp (``T_obj_grasp``, ``width``): the share of ``trials`` in which the Franka Hand holds
    ``obj`` through a lift and a swing. The first trial is exact; the others miss the grasp by up to
    ``error_m`` and ``error_deg`` (uniform), as a pose estimate does. Deterministic for a seed."""
    from tqdm import tqdm
    rng = np.random.default_rng(seed)
    rates = np.zeros(len(grasps))
    with FloatingHand(obj) as hand:
        for i, g in enumerate(tqdm(grasps, desc=f'hold test {obj.name}', unit='grasp', disable=not progress)):
            rates[i] = hand.hold_rate(g.T_obj_grasp, g.width, trials, rng, error_m=error_m, error_deg=error_deg)
    return rates


MIN_HOLD = 0.8      # a grasp the hand holds in fewer trials is dropped (5 trials: at most one miss)


def keep_holding(obj, grasps: list, trials: int = 5, min_hold: float = MIN_HOLD, seed: int = 0,
                 progress: bool = False) -> list:
    """The grasps of ``obj`` the hand holds in at least ``min_hold`` of ``trials`` (:func:`hold_rates`), each
    with its hold rate recorded and its score multiplied by it; best first."""
    from dataclasses import replace
    rates = hold_rates(obj, grasps, trials, seed=seed, progress=progress)
    kept = [replace(g, score=g.score * float(r), hold=float(r)) for g, r in zip(grasps, rates) if r >= min_hold]
    return sorted(kept, key=lambda g: -g.score)
