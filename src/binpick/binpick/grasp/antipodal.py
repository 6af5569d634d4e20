"""Antipodal parallel-jaw grasp sampling on a watertight mesh (object frame, metres).

A grasp closes two fingers on surface points p and q whose outward normals face each other within
the friction cone: a ray into the object from p along its inward normal leaves it at q. Around that
closing axis the approach direction is swept; an approach is kept when neither the fingers nor the
palm of the gripper overlap the object (occupancy tests with Open3D's raycasting scene).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import trimesh

from binpick.geometry import axis_angle, raycasting_scene
from binpick.grasp.grasp_set import Grasp, Gripper


def _box_axes(lo: np.ndarray, hi: np.ndarray, step: float) -> list[np.ndarray]:
    """Sample positions along each axis of a box: every ``step`` from ``lo``, or its middle when thinner."""
    return [np.arange(lo[i], hi[i] + 1e-9, step) if hi[i] - lo[i] > step else np.array([(lo[i] + hi[i]) / 2])
            for i in range(3)]


def _gripper_boxes(gripper: Gripper, opening: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(lo, hi) corners of both fingers and the palm's front slab, gripper frame, for an opening (metres).

    An object that reaches into the hand body must cross its front face, so a 5 mm slab stands for
    the whole body.
    """
    fx, ft = gripper.finger_width / 2, gripper.finger_thickness
    z_palm = -gripper.finger_depth
    boxes = [
        ((-fx, opening / 2, z_palm), (fx, opening / 2 + ft, 0.010)),          # finger +y
        ((-fx, -opening / 2 - ft, z_palm), (fx, -opening / 2, 0.010)),        # finger -y
        ((-gripper.palm_depth / 2, -gripper.palm_width / 2, z_palm - 0.005),
         (gripper.palm_depth / 2, gripper.palm_width / 2, z_palm)),           # hand body
    ]
    return [(np.array(lo), np.array(hi)) for lo, hi in boxes]


def gripper_points(gripper: Gripper, opening: float, step: float = 0.0025) -> np.ndarray:
    """(N, 3) points filling both fingers and the palm's front slab, gripper frame, for an opening (metres)."""
    return np.concatenate([np.stack(np.meshgrid(*_box_axes(lo, hi, step), indexing='ij'), axis=-1).reshape(-1, 3)
                           for lo, hi in _gripper_boxes(gripper, opening)])


@lru_cache(maxsize=4096)
def gripper_corners(gripper: Gripper, opening: float, step: float = 0.0025) -> np.ndarray:
    """(3, 8, 3) corners of the boxes that :func:`gripper_points` fills (fingers, palm slab), gripper frame;
    corner ``4a + 2b + c`` takes the low or high end of x, y, z by the bits a, b, c. Read-only and cached:
    a part's CAD grasps ask for the same openings every frame."""
    corners = []
    for lo, hi in _gripper_boxes(gripper, opening):
        ends = [axis[[0, -1]] for axis in _box_axes(lo, hi, step)]
        corners.append(np.stack(np.meshgrid(*ends, indexing='ij'), axis=-1).reshape(8, 3))
    out = np.stack(corners)
    out.flags.writeable = False
    return out


def _exit_points(scene, origins: np.ndarray, dirs: np.ndarray, max_exits: int) -> list[list]:
    """For rays starting inside the solid: the points where each leaves it, up to ``max_exits``
    (a ray through a hollow part leaves, re-enters and leaves again). Returns [(point, triangle)]."""
    out: list[list] = [[] for _ in range(len(origins))]
    start, alive = origins.astype(np.float64).copy(), np.arange(len(origins))
    for _ in range(max_exits):
        hit = scene.cast_rays(np.concatenate([start[alive], dirs[alive]], axis=1).astype(np.float32))
        t, tri = hit['t_hit'].numpy(), hit['primitive_ids'].numpy()
        ok = np.isfinite(t)
        for j, i in enumerate(alive):
            if ok[j]:
                out[i].append((start[i] + t[j] * dirs[i], int(tri[j])))
        alive = alive[ok]
        start[alive] += (t[ok, None] + 1e-5) * dirs[alive]
        # from outside, the next hit is where the ray re-enters; step past it
        hit = scene.cast_rays(np.concatenate([start[alive], dirs[alive]], axis=1).astype(np.float32))
        t = hit['t_hit'].numpy()
        ok = np.isfinite(t)
        alive = alive[ok]
        start[alive] += (t[ok, None] + 1e-5) * dirs[alive]
    return out


def sample_antipodal_grasps(mesh: trimesh.Trimesh, gripper: Gripper = Gripper(), n_surface: int = 1500,
                            n_approach: int = 12, friction_deg: float = 15.0, max_grasps: int = 256,
                            seed: int = 0) -> list[Grasp]:
    """Collision-free antipodal grasps of ``mesh`` (metres, object frame), best first.

    Args:
        mesh: watertight object mesh.
        gripper: finger and palm geometry.
        n_surface: surface points sampled as first contacts.
        n_approach: approach directions tried around each closing axis.
        friction_deg: half-angle of the friction cone that both normals must fall in.
        max_grasps: at most this many grasps are returned, spread out by non-maximum suppression.
        seed: seed of the surface sampling (the result is deterministic for a seed).
    """
    rng = np.random.default_rng(seed)
    p, face = trimesh.sample.sample_surface(mesh, n_surface, seed=int(rng.integers(1 << 31)))
    n = mesh.face_normals[face]
    origins = p - 1e-5 * n
    scene = raycasting_scene(mesh.vertices, mesh.faces)
    exits = _exit_points(scene, origins, -n, max_exits=3)
    cos_friction = np.cos(np.deg2rad(friction_deg))
    centre = mesh.center_mass if mesh.is_volume else mesh.centroid
    half_diameter = np.linalg.norm(mesh.extents) / 2
    reach = float(np.linalg.norm(mesh.vertices - centre, axis=1).max()) + 0.002

    candidates: list[Grasp] = []
    pairs = [(i, q, tri) for i in range(n_surface) for q, tri in exits[i]]
    for i, q, tri in pairs:
        n_q = mesh.face_normals[tri]
        width = float(np.linalg.norm(q - p[i]))
        if width < 1e-4 or width > gripper.max_width - 0.005:
            continue
        y_axis = (q - p[i]) / max(width, 1e-9)
        c1, c2 = float(np.dot(-n[i], y_axis)), float(np.dot(n_q, y_axis))
        if min(c1, c2) < cos_friction:
            continue
        mid = (p[i] + q) / 2
        opening = min(width + 0.010, gripper.max_width)
        fingers = gripper_points(gripper, opening)
        z0 = np.cross(y_axis, [0.0, 0.0, 1.0])
        if np.linalg.norm(z0) < 1e-3:
            z0 = np.cross(y_axis, [1.0, 0.0, 0.0])
        z0 /= np.linalg.norm(z0)
        # all approach directions at once; only gripper points near the object can collide
        Rs = []
        for k in range(n_approach):
            z = axis_angle(y_axis, 2 * np.pi * k / n_approach) @ z0
            Rs.append(np.column_stack([np.cross(y_axis, z), y_axis, z]))
        pts = np.einsum('kij,nj->kni', np.array(Rs), fingers) + mid
        near = np.linalg.norm(pts - centre, axis=-1) < reach
        occupied = np.zeros(pts.shape[:2], dtype=bool)
        occupied[near] = scene.compute_occupancy(pts[near].astype(np.float32)).numpy().astype(bool)
        score = 0.5 * (c1 + c2) * (1.0 - 0.5 * min(1.0, np.linalg.norm(mid - centre) / half_diameter))
        for k in np.nonzero(~occupied.any(axis=1))[0]:
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = Rs[k], mid
            candidates.append(Grasp(T, width, score))

    candidates.sort(key=lambda g: -g.score)
    chosen: list[Grasp] = []
    for g in candidates:  # non-maximum suppression: keep grasps that differ in place or approach
        if all(np.linalg.norm(g.T_obj_grasp[:3, 3] - c.T_obj_grasp[:3, 3]) > 0.004
               or np.dot(g.approach, c.approach) < np.cos(np.deg2rad(30)) for c in chosen):
            chosen.append(g)
            if len(chosen) == max_grasps:
                break
    return chosen
