"""From estimated poses to ranked, collision-free grasps in the robot base frame (ROS-free).

For each estimated pose that passes verification (the self-training acceptance rule: an unverified
pose is never picked), every CAD grasp ``T_obj_grasp`` of the part, expanded over the part's symmetry
group ``S``, becomes a gripper TCP pose in the robot base frame::

    T_base_tcp = T_base_cam · T_cam_obj · S · T_obj_grasp

A candidate is kept when its approach comes from the tote's opening (within ``max_approach_deg`` of
straight down), its opening fits the gripper, the fingers and palm (at that opening) touch neither the
observed point cloud nor the tote, and the arm can reach it (an optional ``reachable`` test, e.g. IK
within joint limits). Survivors are ranked by grasp quality, pose confidence, the pose's fit to the
depth (d_geo), clearance and height (the top of the pile first). Frames: base (z up), camera (OpenCV),
object (catalog mesh); metres.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np
from scipy.spatial import cKDTree

from binpick.catalog.models_info import ModelInfo
from binpick.geometry import axis_angle, make_T
from binpick.grasp.antipodal import gripper_corners, gripper_points
from binpick.grasp.grasp_set import GraspSet
from binpick.selftrain.selection import passes


@dataclass(frozen=True)
class Tote:
    """The tote's inner box: ``T_base_tote`` at the centre of its floor, z up; inner size (m)."""

    T_base_tote: np.ndarray
    inner_size_m: tuple[float, float, float]

    @cached_property
    def T_tote_base(self) -> np.ndarray:
        return np.linalg.inv(self.T_base_tote)


@dataclass(frozen=True)
class GraspFilter:
    """What makes a grasp executable in the cell."""

    max_approach_deg: float = 45.0   # approach (gripper +z) within this angle of straight down (-z base)
    clearance_m: float = 0.003       # no observed point or tote face closer than this to the gripper
    width_margin_m: float = 0.020    # the fingers open this much wider than the grasp width (and are checked so)
    continuous_steps: int = 12       # rotations sampled about a continuous symmetry axis
    own_margin_m: float = 0.010      # observed points this close to the part's posed model are the part itself
    floor_band_m: float = 0.015      # observed points this close to the tote's floor or walls are the tote
    wall_band_m: float = 0.015       # (its model stands for them: stereo depth smears them by millimetres)


@dataclass(frozen=True)
class EstimatedPose:
    """A pose estimate with its verification scores (camera frame; d_geo in metres)."""

    T_cam_obj: np.ndarray
    confidence: float
    d_appearance: float
    d_geo_m: float


@dataclass
class GraspCandidate:
    """One executable grasp: which instance, which CAD grasp and symmetry, the TCP pose in the base frame."""

    instance: int
    grasp_index: int
    symmetry_index: int
    T_base_tcp: np.ndarray
    opening_m: float        # how far the fingers open before the approach: the opening checked for collisions
    clearance_m: float
    score: float


def symmetry_group(info: ModelInfo, continuous_steps: int = 12) -> list[np.ndarray]:
    """The part's symmetry transforms (4x4, object frame), identity first; a continuous axis is sampled
    every ``360 / continuous_steps`` degrees."""
    group = [np.eye(4)] + [np.asarray(S, dtype=np.float64) for S in info.symmetries_discrete]
    for sym in info.symmetries_continuous:
        for k in range(1, continuous_steps):
            R = axis_angle(sym.axis, 2 * np.pi * k / continuous_steps)
            offset = np.asarray(sym.offset_m, dtype=np.float64)
            rotation = make_T(R, offset - R @ offset)          # about the axis through the offset
            group += [rotation @ S for S in group[:1 + len(info.symmetries_discrete)]]
    return group


def grasps_in_object(grasps: GraspSet, group: list[np.ndarray]) -> np.ndarray:
    """(K, 4, 4) ``S @ T_obj_grasp`` of every CAD grasp under every symmetry; row ``k`` is grasp
    ``k % len(grasps)`` under symmetry ``k // len(grasps)``."""
    if not grasps.grasps:
        return np.zeros((0, 4, 4))
    return np.stack([S @ grasp.T_obj_grasp for S in group for grasp in grasps.grasps])


def grasp_poses(T_base_cam: np.ndarray, T_cam_obj: np.ndarray, grasps: GraspSet,
                group: list[np.ndarray]) -> list[tuple[int, int, np.ndarray]]:
    """(grasp index, symmetry index, ``T_base_tcp``) of every CAD grasp under every symmetry."""
    n = len(grasps.grasps)
    T_base_tcp = (T_base_cam @ T_cam_obj) @ grasps_in_object(grasps, group)
    return [(k % n, k // n, T) for k, T in enumerate(T_base_tcp)]


# the 12 edges of a box whose corners are numbered as in ``gripper_corners`` (corners one bit apart)
_BOX_EDGES = np.array([(a, b) for a in range(8) for b in range(a + 1, 8) if bin(a ^ b).count('1') == 1])


def hand_hits_tote(corners: np.ndarray, T_base_tcp: np.ndarray, tote: Tote, clearance_m: float,
                   floor_clearance_m: float | None = None) -> np.ndarray:
    """(N,) bool: the gripper's boxes (``corners``: (B, 8, 3) or one per pose (N, B, 8, 3), gripper frame) at
    each of the (N, 4, 4) TCP poses reach into the tote's walls or floor, or within ``clearance_m`` of them
    (of the floor: ``floor_clearance_m``, default ``clearance_m``), below the rim. Exact for the boxes: the
    part of a box below the rim lies inside the tote's free space when its corners below the rim and its
    edges' crossings of the rim do."""
    T_tote_tcp = tote.T_tote_base @ np.asarray(T_base_tcp, dtype=np.float64).reshape(-1, 4, 4)
    p = np.einsum('nij,n...j->n...i', T_tote_tcp[:, :3, :3], np.broadcast_to(
        corners, (len(T_tote_tcp),) + np.shape(corners)[-3:])) + T_tote_tcp[:, None, None, :3, 3]
    rim = tote.inner_size_m[2]
    a, b = p[..., _BOX_EDGES[:, 0], :], p[..., _BOX_EDGES[:, 1], :]
    with np.errstate(divide='ignore', invalid='ignore'):
        t = (rim - a[..., 2]) / (b[..., 2] - a[..., 2])
    crosses = (t > 0) & (t < 1)
    crossing = a + np.where(crosses, t, 0.0)[..., None] * (b - a)
    half_x, half_y = tote.inner_size_m[0] / 2 - clearance_m, tote.inner_size_m[1] / 2 - clearance_m
    floor = clearance_m if floor_clearance_m is None else floor_clearance_m

    def outside(q: np.ndarray) -> np.ndarray:
        return (np.abs(q[..., 0]) > half_x) | (np.abs(q[..., 1]) > half_y) | (q[..., 2] < floor)

    return ((p[..., 2] < rim) & outside(p)).any(axis=(1, 2)) | (crosses & outside(crossing)).any(axis=(1, 2))


def obstacle_mask(cloud_base_m: np.ndarray, tote: Tote, floor_band_m: float, wall_band_m: float) -> np.ndarray:
    """(N,) bool: the observed points (base frame) that are obstacles: inside the tote, clear of its floor
    and walls by the bands (the tote's own model stands for its faces)."""
    inv = tote.T_tote_base
    p = cloud_base_m @ inv[:3, :3].T + inv[:3, 3]
    half_x, half_y = tote.inner_size_m[0] / 2 - wall_band_m, tote.inner_size_m[1] / 2 - wall_band_m
    return (p[:, 2] > floor_band_m) & (np.abs(p[:, 0]) < half_x) & (np.abs(p[:, 1]) < half_y)


def _obstacle_tree(cloud: np.ndarray, T_base_obj: np.ndarray, model_points_m: np.ndarray | None,
                   own_margin_m: float) -> cKDTree | None:
    """KD-tree of the obstacle points for grasps on one part: without the part's own points."""
    if model_points_m is not None and len(cloud):
        part = cKDTree(model_points_m @ T_base_obj[:3, :3].T + T_base_obj[:3, 3])
        cloud = cloud[part.query(cloud, distance_upper_bound=own_margin_m)[0] > own_margin_m]
    return cKDTree(cloud) if len(cloud) else None


class LazyCache(dict):
    """Values made on first use from their key with ``make`` (an instance's obstacle KD-tree, a grasp's hand)."""

    def __init__(self, make: Callable[[int], object]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: int):
        self[key] = value = self.make(key)
        return value


def check_hand(hand_points: np.ndarray, T_base_tcp: np.ndarray, obstacles: Callable[[], cKDTree | None],
               reachable: Callable[[np.ndarray], bool] | None, clearance_m: float) -> tuple[float, str]:
    """A gripper (its points in the gripper frame) at ``T_base_tcp``, clear of the tote
    (:func:`hand_hits_tote`): (clearance to the observed obstacle points, at most 10 mm, '') when it is
    executable, else (0, why not). ``obstacles`` makes the KD-tree of the obstacle points (or None)."""
    hand = hand_points @ T_base_tcp[:3, :3].T + T_base_tcp[:3, 3]
    tree = obstacles()
    clearance = 0.01
    if tree is not None:     # every 8th point first: most rejected hands show it there, at an eighth of the cost
        for points in (hand[::8], hand):
            clearance = min(clearance, float(tree.query(points, distance_upper_bound=0.01)[0].min()))
            if clearance < clearance_m:
                return 0.0, 'collides with the observed points'
    if reachable is not None and not reachable(T_base_tcp):
        return 0.0, 'unreachable'
    return clearance, ''


def plan_grasps(poses: list[EstimatedPose], tau_appearance: float | None, tau_geometry_m: float | None,
                grasps: GraspSet, info: ModelInfo, T_base_cam: np.ndarray, cloud_base_m: np.ndarray, tote: Tote,
                *, grasp_filter: GraspFilter | None = None, model_points_m: np.ndarray | None = None,
                reachable: Callable[[np.ndarray], bool] | None = None,
                max_candidates: int | None = None) -> tuple[list[GraspCandidate], Counter]:
    """Executable grasps on the verified poses, best first, and how many candidates each filter removed.

    Args:
        poses: the frame's estimates with their verification scores.
        tau_appearance, tau_geometry_m: the acceptance thresholds (``selection.passes``); a pose that
            does not pass gets no grasp.
        grasps: the part's CAD grasps; info: its models_info (symmetries).
        T_base_cam: hand-eye calibration (camera optical frame in the base frame).
        cloud_base_m: (N, 3) observed points in the base frame (the bin's contents).
        tote: the tote's inner box in the base frame.
        model_points_m: points on the part's surface (object frame). When given, the observed points
            near each posed part are taken for the part itself and not checked: the CAD grasps were
            checked against the part's mesh when the catalog made them.
        reachable: optional test of a TCP pose (IK within joint limits).
        max_candidates: stop once this many grasps passed every check (they are checked in the order of
            a prior score without clearance, so the best few come first); None checks all.

    Clearance counts up to 10 mm (``clearance_m`` of a candidate is at most 0.01).
    """
    f = grasp_filter or GraspFilter()
    removed: Counter = Counter()
    verified = passes([p.d_appearance for p in poses], [p.d_geo_m for p in poses], tau_appearance, tau_geometry_m)
    removed['unverified pose'] = int((~verified).sum())
    group = symmetry_group(info, f.continuous_steps)
    # each CAD grasp's opening; its fingers and palm at that opening (gripper frame) when it is checked
    openings = [g.width + f.width_margin_m for g in grasps.grasps]
    hands = LazyCache(lambda g: gripper_points(grasps.gripper, openings[g]))   # made for the grasps checked
    corners = np.stack([gripper_corners(grasps.gripper, w) for w in openings]) if openings else np.zeros((0, 3, 8, 3))
    cloud = np.asarray(cloud_base_m, dtype=np.float64).reshape(-1, 3)
    cloud = cloud[obstacle_mask(cloud, tote, f.floor_band_m, f.wall_band_m)]
    top = float(cloud[:, 2].max()) if len(cloud) else 0.0
    cos_approach = np.cos(np.deg2rad(f.max_approach_deg))
    # 1. cheap filters (the tote among them) and a prior score (grasp quality, pose confidence, fit to the
    # depth, height), all grasps of a pose at once; candidates keep the order pose, symmetry, grasp for equal priors
    T_obj_tcp = grasps_in_object(grasps, group)
    n_grasps = len(grasps.grasps)
    grasp_of = np.arange(len(T_obj_tcp)) % max(n_grasps, 1)
    opens = np.array([w <= grasps.gripper.max_width for w in openings], dtype=bool)[grasp_of]
    quality = np.array([g.score for g in grasps.grasps], dtype=np.float64)[grasp_of]
    fits = [1.0 - min(1.0, p.d_geo_m / 0.01) if np.isfinite(p.d_geo_m) else 0.0 for p in poses]
    prior_parts, pose_parts, row_parts, T_parts = [], [], [], []
    for i, pose in enumerate(poses):
        if not verified[i]:
            continue
        if not np.isfinite(pose.T_cam_obj).all():
            removed['not a finite pose'] += 1
            continue
        T_base_tcp = (T_base_cam @ pose.T_cam_obj) @ T_obj_tcp
        from_above = -T_base_tcp[:, 2, 2] >= cos_approach          # approach (gripper z) against base -z
        removed['approach angle'] += int((~from_above).sum())
        removed['too wide'] += int((from_above & ~opens).sum())
        rows = np.nonzero(from_above & opens)[0]
        in_tote = ~hand_hits_tote(corners[grasp_of[rows]], T_base_tcp[rows], tote, f.clearance_m)
        removed['collides with the tote'] += int((~in_tote).sum())
        rows = rows[in_tote]
        height = 1.0 - np.minimum(1.0, np.maximum(0.0, top - T_base_tcp[rows, 2, 3]) / 0.1)  # 1 at the top of the pile
        confidence = 0.5 + 0.5 * pose.confidence
        prior_parts.append(quality[rows] * confidence * (0.5 + 0.5 * height) * (0.5 + 0.5 * fits[i]))
        pose_parts.append(np.full(len(rows), i))
        row_parts.append(rows)
        T_parts.append(T_base_tcp[rows])
    empty = [np.zeros(0)], [np.zeros(0, int)], [np.zeros(0, int)], [np.zeros((0, 4, 4))]
    priors, pose_of, row_of, T_of = (np.concatenate(parts or none) for parts, none in
                                     zip((prior_parts, pose_parts, row_parts, T_parts), empty))
    order = np.argsort(-priors, kind='stable')
    ranked = ((float(priors[j]), int(pose_of[j]), int(row_of[j]) % n_grasps, int(row_of[j]) // n_grasps, T_of[j])
              for j in order)
    # 2. collision with the observed points and reach, best prior first, until max_candidates grasps pass
    trees = LazyCache(lambda i: _obstacle_tree(cloud, T_base_cam @ poses[i].T_cam_obj, model_points_m, f.own_margin_m))
    out = []
    for prior, i, g, s, T in ranked:
        if max_candidates is not None and len(out) >= max_candidates:
            break
        clearance, why = check_hand(hands[g], T, partial(trees.__getitem__, i), reachable, f.clearance_m)
        if why:
            removed[why] += 1
            continue
        out.append(GraspCandidate(i, g, s, T, openings[g], clearance, float(prior * clearance / 0.01)))
    out.sort(key=lambda c: -c.score)
    return out, +removed
