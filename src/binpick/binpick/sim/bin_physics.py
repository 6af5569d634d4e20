"""A tote with N copies of one part, dropped and settled with pybullet physics (world frame, metres).

World frame: z up, origin at the centre of the bin floor's top surface.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet as pb

from binpick.catalog.catalog import CatalogObject
from binpick.geometry import make_T, matrix_from_quat, quat_from_matrix
from binpick.sim.pybullet_client import PybulletClient

TIME_STEP_S = 1.0 / 240.0
PACKINGS = ('random', 'semi', 'ordered')    # dropped at random; in rows, jittered; in rows and layers


@dataclass(frozen=True)
class BinSpec:
    """Tote geometry: inner length x width x depth and wall thickness (metres)."""

    inner_size_m: tuple[float, float, float] = (0.36, 0.28, 0.12)
    wall_m: float = 0.01

    def boxes(self) -> list[tuple[tuple[float, float, float], tuple[float, float, float]]]:
        """(half extents, centre) of the floor (top at z = 0) and the four walls, world frame."""
        L, W, H = self.inner_size_m
        t = self.wall_m
        boxes = [((L / 2 + t, W / 2 + t, t / 2), (0.0, 0.0, -t / 2))]
        boxes += [((t / 2, W / 2 + t, H / 2), (s * (L / 2 + t / 2), 0.0, H / 2)) for s in (-1, 1)]
        boxes += [((L / 2 + t, t / 2, H / 2), (0.0, s * (W / 2 + t / 2), H / 2)) for s in (-1, 1)]
        return boxes


def part_mass_kg(obj: CatalogObject) -> float:
    """A part's mass: steel-ish, lighter for stabler stacking (kg)."""
    return max(0.01, obj.mesh.volume * 7800.0 * 0.3)


def part_dynamics(client: int, body: int) -> None:
    """A part's friction and damping."""
    pb.changeDynamics(body, -1, lateralFriction=0.5, rollingFriction=0.001, spinningFriction=0.001,
                      linearDamping=0.1, angularDamping=0.1, physicsClientId=client)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    return matrix_from_quat(q / np.linalg.norm(q))


def resting_rotation(extents_m: np.ndarray) -> np.ndarray:
    """``R_world_obj`` laying a part flat: its longest bounding-box side along x, its shortest vertical."""
    R = np.zeros((3, 3))
    for row, axis in enumerate(np.argsort(extents_m)[::-1]):
        R[row, axis] = 1.0
    if np.linalg.det(R) < 0:
        R[1] *= -1.0
    return R


class BinPhysics(PybulletClient):
    """Physics of one bin; drop parts, settle them, read their poses, remove picked ones."""

    def __init__(self, obj: CatalogObject, bin_spec: BinSpec = BinSpec(), seed: int = 0) -> None:
        self.obj, self.bin, self.rng = obj, bin_spec, np.random.default_rng(seed)
        super().__init__()
        pb.setGravity(0, 0, -9.81, physicsClientId=self.client)
        pb.setTimeStep(TIME_STEP_S, physicsClientId=self.client)
        self._build_bin()
        self._collision = pb.createCollisionShape(pb.GEOM_MESH, fileName=str(obj.collision_path),
                                                  physicsClientId=self.client)
        self.bodies: list[int] = []
        self._mass_kg = part_mass_kg(obj)

    def _build_bin(self) -> None:
        self.bin_bodies = []
        for half, pos in self.bin.boxes():
            shape = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=half, physicsClientId=self.client)
            self.bin_bodies.append(pb.createMultiBody(0, shape, basePosition=pos, physicsClientId=self.client))
        for body in self.bin_bodies:
            pb.changeDynamics(body, -1, lateralFriction=0.6, physicsClientId=self.client)

    def _add_part(self, position_m, R_world_obj: np.ndarray) -> None:
        body = pb.createMultiBody(self._mass_kg, self._collision, basePosition=list(position_m),
                                  baseOrientation=quat_from_matrix(R_world_obj).tolist(), physicsClientId=self.client)
        part_dynamics(self.client, body)
        self.bodies.append(body)

    def drop(self, n: int, settle_s: float = 3.0) -> None:
        """Drop ``n`` parts from random poses above the bin, settle, and remove those outside it."""
        if n <= 0:
            raise ValueError(f'number of parts must be positive, got {n}')
        L, W, H = self.bin.inner_size_m
        r = self.obj.info.diameter_m / 2
        for k in range(n):
            pos = [self.rng.uniform(-L / 2 + r, L / 2 - r), self.rng.uniform(-W / 2 + r, W / 2 - r),
                   H + r + k * 0.6 * r]
            self._add_part(pos, _random_rotation(self.rng))
        self.settle(settle_s)
        self.remove_outside()

    def pack(self, n: int, packing: str = 'random', settle_s: float = 3.0) -> None:
        """Put ``n`` parts in the bin: ``random`` drops them (:meth:`drop`); ``ordered`` lays them flat in rows
        and layers, the way a supplier packs a tote; ``semi`` in rows with gaps, each turned and shifted a
        little. Parts that do not fit are left out; a part too long to lie flat in the bin is dropped."""
        if packing not in PACKINGS:
            raise ValueError(f'packing {packing!r}: expected one of {", ".join(PACKINGS)}')
        if packing == 'random':
            return self.drop(n, settle_s)
        L, W, H = self.bin.inner_size_m
        R = resting_rotation(self.obj.mesh.extents)
        dx, dy, dz = np.sort(self.obj.mesh.extents)[::-1]
        max_yaw = 0.0 if packing == 'ordered' else 0.2
        gap = 0.002 + dx * np.sin(max_yaw) + (0.0 if packing == 'ordered' else 0.2 * dy)
        nx, ny = int((L - gap) // (dx + gap)), int((W - gap) // (dy + gap))
        if nx == 0 or ny == 0:
            return self.drop(n, settle_s)
        slots = [(i, j, k) for k in range(max(1, int(H // (dz + 0.001)))) for j in range(ny) for i in range(nx)]
        for i, j, k in slots[:n]:
            x = (i - (nx - 1) / 2) * (dx + gap) + self.rng.uniform(-0.3, 0.3) * gap * (max_yaw > 0)
            y = (j - (ny - 1) / 2) * (dy + gap) + self.rng.uniform(-0.3, 0.3) * gap * (max_yaw > 0)
            yaw = self.rng.uniform(-max_yaw, max_yaw) + np.pi * self.rng.integers(2)
            R_yaw = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
            self._add_part([x, y, dz / 2 + 0.0005 + k * (dz + 0.001)], R_yaw @ R)
        self.settle(settle_s)
        self.remove_outside()

    def settle(self, max_s: float, still_mps: float = 0.005) -> float:
        """Step until every part moves slower than ``still_mps`` (checked every 0.1 s); returns sim time."""
        steps = 0
        while steps * TIME_STEP_S < max_s:
            for _ in range(24):
                pb.stepSimulation(physicsClientId=self.client)
            steps += 24
            speeds = [np.linalg.norm(pb.getBaseVelocity(b, physicsClientId=self.client)[0]) for b in self.bodies]
            if steps * TIME_STEP_S > 0.3 and (not speeds or max(speeds) < still_mps):
                break
        return steps * TIME_STEP_S

    def outside(self) -> list[int]:
        """Indices of the parts whose centre is not inside the bin volume."""
        L, W, H = self.bin.inner_size_m
        out = []
        for index, body in enumerate(self.bodies):
            x, y, z = pb.getBasePositionAndOrientation(body, physicsClientId=self.client)[0]
            if not (abs(x) < L / 2 and abs(y) < W / 2 and -0.01 < z < H + self.obj.info.diameter_m):
                out.append(index)
        return out

    def remove_outside(self) -> int:
        """Remove parts whose centre is not inside the bin volume; returns how many."""
        outside = self.outside()
        for index in reversed(outside):
            self.remove(index)
        return len(outside)

    def remove(self, index: int) -> None:
        """Remove the part with this index (a pick)."""
        pb.removeBody(self.bodies.pop(index), physicsClientId=self.client)

    def poses(self) -> list[np.ndarray]:
        """``T_world_obj`` of every part in the bin, in body order."""
        out = []
        for body in self.bodies:
            pos, q = pb.getBasePositionAndOrientation(body, physicsClientId=self.client)
            out.append(make_T(matrix_from_quat(np.asarray(q)), np.asarray(pos)))
        return out
