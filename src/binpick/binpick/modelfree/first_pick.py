"""The first pick of a part nobody registered: a pick cost map from class-agnostic instance masks and the
depth, and parallel-jaw grasps chosen from it without any model of the part.

Per instance (a mask with enough depth):
- **height**: how far its top stands above the tote floor (the top of the pile first);
- **unoccluded**: the share of its border not overlapped by a neighbour that stands higher;
- **interior**: distance from the mask border (the fingers close around the middle, not an edge);
- **flatness**: how little the surface normals vary around the pixel, and how close they are to the
  straight-down approach.
Their weighted sum over the mask's pixels is the **cost map** (higher is better, 0 off the masks).

From its best pixels a grasp is built geometrically: the approach is the local surface normal turned
into the tote (within ``max_approach_deg`` of straight down); the closing axis is swept about it, and
at each angle the part's extent between the finger pads is read off the instance's own points, and
the fingers are centred on it (they close symmetrically). A grasp
is kept when that width fits the gripper and the fingers, opened a margin wider, touch neither the
other observed points nor the tote. Frames: base (z up), camera (OpenCV); metres.
"""
from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np
from scipy.spatial import cKDTree

from binpick.geometry import backproject
from binpick.grasp.antipodal import gripper_corners, gripper_points
from binpick.grasp.candidates import (
    GraspCandidate,
    GraspFilter,
    LazyCache,
    Tote,
    check_hand,
    hand_hits_tote,
    obstacle_mask,
)
from binpick.grasp.grasp_set import Gripper
from binpick.grasp.motion import Kinematics, MotionPlanner
from binpick.grasp.pipeline import PickDecision, depth_pixels, plan_first
from binpick.modelfree.grasp_quality import GraspQuality, grasp_features

TIP_PAST_TCP_M = 0.010             # the Franka Hand's fingertips reach this far past the TCP (its z axis)


@dataclass(frozen=True)
class CostMapConfig:
    """Weights of the cost map's terms (each in [0, 1]) and the scales that normalise them."""

    w_height: float = 0.35
    w_unoccluded: float = 0.25
    w_interior: float = 0.2
    w_flat: float = 0.2
    interior_px: float = 8.0           # distance from the border (pixels) that counts as fully inside
    flat_deg: float = 25.0             # normal spread (degrees) that counts as not flat at all
    occluder_m: float = 0.005          # a neighbour this much higher at the shared border occludes
    min_points: int = 40               # an instance with fewer depth points gets no grasp
    grasp_pixels: int = 6              # best pixels per instance turned into grasps
    closing_angles: int = 12           # closing directions swept about the approach (over 180 degrees)
    tip_depth_m: float = 0.022         # fingertips this far below the surface point, when the floor allows
    floor_gap_m: float = 0.002         # ... and at least this far above the tote floor (no tilted corner nearer
                                       # than half of it): a flat part is held by all of its side it can
    pad_band_m: float = 0.012          # part points from this far behind the TCP to the tips set the width
    min_contact_points: int = 5        # part points within 3 mm of each finger, at least
    full_contact_points: int = 20      # ... and this many count in full in the ranking
    w_narrow: float = 0.3              # preference for a narrow grip (the ranking's factor at full width: 1 - it)
    opening_margin_m: float = 0.010    # the fingers open this much wider than the part's measured extent
    hold_power: float = 4.0            # with a grasp-quality model, the ranking's factor is P(hold) to this power


@dataclass
class ModelFreeGrasp(GraspCandidate):
    """A model-free grasp with its observed geometry (``grasp_quality.FEATURES``) and, when a grasp-quality
    model ranked it, its probability of holding (else nan)."""

    features: np.ndarray = field(default_factory=lambda: np.zeros(0))
    p_hold: float = float('nan')


@dataclass
class CostMap:
    """The frame's pick cost map (HxW, 0 off the masks) and its per-instance terms."""

    score: np.ndarray
    height_m: np.ndarray          # (N,) top of each instance above the floor (nan without depth)
    unoccluded: np.ndarray        # (N,)
    normals_cam: np.ndarray       # HxWx3 unit normals (camera frame, towards the camera), 0 without depth


def surface_normals(depth_m: np.ndarray, K: np.ndarray, smooth_px: int = 5) -> np.ndarray:
    """HxWx3 unit normals of the depth surface (camera frame, facing the camera); 0 where undefined."""
    valid = depth_m > 0
    z = cv2.medianBlur(np.where(valid, depth_m, 0).astype(np.float32), 5)
    h, w = z.shape
    us, vs = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    pts = np.stack([(us - K[0, 2]) * z / K[0, 0], (vs - K[1, 2]) * z / K[1, 1], z], axis=-1)
    pts = cv2.blur(pts, (smooth_px, smooth_px))
    du, dv = np.zeros_like(pts), np.zeros_like(pts)
    du[:, 1:-1], dv[1:-1] = pts[:, 2:] - pts[:, :-2], pts[2:] - pts[:-2]
    n = np.cross(du, dv)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.where(norm > 1e-12, n / np.maximum(norm, 1e-12), 0.0)
    n[n[..., 2] > 0] *= -1.0                      # face the camera (optical z points away from it)
    n[~valid | (z <= 0)] = 0.0
    return n.astype(np.float32)


def label_image(masks: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """HxW int32: k + 1 where mask k is the first to cover the pixel, 0 elsewhere."""
    labels = np.zeros(shape, np.int32)
    for k, mask in enumerate(masks):
        labels[mask & (labels == 0)] = k + 1
    return labels


def cost_map(depth_m: np.ndarray, K: np.ndarray, masks: list[np.ndarray], T_base_cam: np.ndarray, tote: Tote,
             config: CostMapConfig = CostMapConfig(), max_approach_deg: float = 45.0) -> CostMap:
    """The pick cost map of one frame from its instance masks (HxW bool) and depth (metres, 0 = none)."""
    h, w = depth_m.shape
    normals = surface_normals(depth_m, K)
    T_tote_cam = tote.T_tote_base @ T_base_cam
    down_cam = -T_tote_cam[2, :3]                 # the tote's -z (straight down) in the camera frame
    score = np.zeros((h, w), np.float32)
    heights, unoccluded = np.full(len(masks), np.nan), np.zeros(len(masks))
    height_map = np.full((h, w), np.nan, np.float32)
    vs_all, us_all = np.nonzero(depth_m > 0)
    if len(vs_all):
        p = backproject(us_all, vs_all, depth_m, K) @ T_tote_cam[:3, :3].T + T_tote_cam[:3, 3]
        height_map[vs_all, us_all] = p[:, 2]
    for k, mask in enumerate(masks):
        hk = height_map[mask]
        hk = hk[np.isfinite(hk)]
        if len(hk) >= config.min_points:
            heights[k] = float(np.percentile(hk, 90))
    top = np.nanmax(heights) if np.isfinite(heights).any() else 1.0
    labels = label_image(masks, (h, w))
    ring_kernel = np.ones((5, 5), np.uint8)
    cos_limit = np.cos(np.deg2rad(max_approach_deg))
    facing = np.clip((-(normals @ down_cam) - cos_limit) / (1 - cos_limit), 0, 1)   # normal up, near vertical
    for k, mask in enumerate(masks):
        if not np.isfinite(heights[k]):
            continue
        m8 = mask.astype(np.uint8)
        ring = (cv2.dilate(m8, ring_kernel) > 0) & ~mask
        neighbours = ring & (labels > 0) & (labels != k + 1)
        higher = neighbours & (height_map > heights[k] + config.occluder_m)
        unoccluded[k] = 1.0 - higher.sum() / max(1, ring.sum())
        inside = np.clip(cv2.distanceTransform(m8, cv2.DIST_L2, 3) / config.interior_px, 0, 1)
        # the length of the mean normal over the part's pixels in a 7x7 window is the cosine of their spread
        mean_normal = cv2.blur(normals * mask[..., None], (7, 7)) / np.maximum(cv2.blur(m8.astype(np.float32),
                                                                                         (7, 7)), 1e-6)[..., None]
        spread_deg = np.rad2deg(np.arccos(np.clip(np.linalg.norm(mean_normal, axis=-1), 0, 1)))
        flat = np.clip(1.0 - spread_deg / config.flat_deg, 0, 1) * facing
        terms = (config.w_height * max(0.0, heights[k]) / max(top, 1e-3) + config.w_unoccluded * unoccluded[k]
                 + config.w_interior * inside + config.w_flat * flat)
        score[mask] = np.where(depth_m[mask] > 0, terms[mask], 0.0)
    return CostMap(score, heights, unoccluded, normals)


def _best_pixels(score: np.ndarray, mask: np.ndarray, n: int, spacing_px: int = 6) -> list[tuple[int, int]]:
    """Up to ``n`` (v, u) of the highest score inside ``mask``, at least ``spacing_px`` apart."""
    s = np.where(mask, score, 0.0)
    order = np.argsort(s, axis=None)[::-1]
    picked: list[tuple[int, int]] = []
    for idx in order[:4000]:
        if s.flat[idx] <= 0 or len(picked) >= n:
            break
        v, u = divmod(int(idx), s.shape[1])
        if all(abs(v - a) > spacing_px or abs(u - b) > spacing_px for a, b in picked):
            picked.append((v, u))
    return picked


def _frame(approach: np.ndarray, closing: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """4x4 gripper pose: z along ``approach``, y along ``closing`` (made orthogonal), at ``centre``."""
    z = approach / np.linalg.norm(approach)
    y = closing - z * (closing @ z)
    y /= np.linalg.norm(y)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = np.cross(y, z), y, z, centre
    return T


def finger_band(local: np.ndarray, gripper: Gripper, config: CostMapConfig) -> np.ndarray:
    """The points of ``local`` ((N, 3), gripper frame: y the closing axis, z the approach) the finger pads
    sweep when they close: within the fingers' width, from ``pad_band_m`` behind the TCP to 10 mm past it."""
    return local[(np.abs(local[:, 0]) < gripper.finger_width / 2 + 0.002) & (local[:, 2] > -config.pad_band_m)
                 & (local[:, 2] < TIP_PAST_TCP_M)]


def main_axis_length(points: np.ndarray) -> float:
    """The extent of ``points`` (N, 2 or 3) along their main axis, 2nd to 98th percentile (their units)."""
    if len(points) < 4:
        return 0.0
    centred = points - points.mean(axis=0)
    along = centred @ np.linalg.eigh(np.cov(centred.T))[1][:, -1]
    low, high = np.percentile(along, [2, 98])
    return float(high - low)


def model_free_grasps(depth_m: np.ndarray, K: np.ndarray, masks: list[np.ndarray], T_base_cam: np.ndarray,
                      tote: Tote, gripper: Gripper = Gripper(), *, grasp_filter: GraspFilter | None = None,
                      config: CostMapConfig = CostMapConfig(),
                      reachable: Callable[[np.ndarray], bool] | None = None, max_candidates: int | None = 20,
                      max_obstacle_points: int = 30000, avoid_m: Sequence[np.ndarray] = (),
                      avoid_radius_m: float = 0.02,
                      quality: GraspQuality | None = None) -> tuple[list[ModelFreeGrasp], Counter, CostMap]:
    """Executable grasps on the instances, best first, what each check removed, and the cost map.

    ``grasp_index`` is the instance's pixel rank and ``symmetry_index`` the closing-angle index (there is no
    CAD grasp); ``instance`` indexes ``masks``. No grasp is centred within ``avoid_radius_m`` of a point of
    ``avoid_m`` (base frame, metres: where recent picks failed). ``quality``: a grasp-quality model whose
    probability of holding (to the power ``config.hold_power``) multiplies each grasp's ranking.
    """
    f = grasp_filter or GraspFilter()
    cmap = cost_map(depth_m, K, masks, T_base_cam, tote, config, f.max_approach_deg)
    removed: Counter = Counter()
    T_tote_cam = tote.T_tote_base @ T_base_cam
    R_bc, t_bc = T_base_cam[:3, :3], T_base_cam[:3, 3]
    down_base = -tote.T_base_tote[:3, 2]
    # each pixel's owner: its instance, else the instance whose mask it borders (stereo smears edges)
    owner = label_image(masks, depth_m.shape)
    for k, mask in enumerate(masks):
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        owner[grown & (owner == 0)] = k + 1
    obstacle_vs, obstacle_us = depth_pixels(depth_m, max_obstacle_points)
    obstacles = backproject(obstacle_us, obstacle_vs, depth_m, K) @ R_bc.T + t_bc
    is_obstacle = obstacle_mask(obstacles, tote, f.floor_band_m, f.wall_band_m)
    obstacle_owner = owner[obstacle_vs, obstacle_us]
    angles = np.pi * np.arange(config.closing_angles) / config.closing_angles
    ranked = []
    owned = {}                          # each instance's points (base frame) and their length (metres)
    for k in map(int, np.flatnonzero(np.isfinite(cmap.height_m))):
        own_v, own_u = np.nonzero((owner == k + 1) & (depth_m > 0))
        own = backproject(own_u, own_v, depth_m, K) @ R_bc.T + t_bc
        owned[k] = own, main_axis_length(own[:, :2])        # as seen from above
    # a bin of one unknown part: an instance much smaller than the frame's typical one is likely a fragment
    typical_points = float(np.median([len(o) for o, _ in owned.values()])) if owned else 1.0
    typical_length = float(np.median([length for _, length in owned.values()])) if owned else 1.0
    for k, mask in enumerate(masks):
        if k not in owned:
            removed['too few depth points'] += 1
            continue
        own, length = owned[k]
        relative = (len(own) / max(typical_points, 1.0), length / max(typical_length, 1e-3), length)
        for rank, (v, u) in enumerate(_best_pixels(cmap.score, mask & (depth_m > 0), config.grasp_pixels)):
            win = (slice(max(0, v - 2), v + 3), slice(max(0, u - 2), u + 3))
            z = float(np.median(depth_m[win][mask[win] & (depth_m[win] > 0)]))
            p_cam = np.array([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z])
            surface = R_bc @ p_cam + t_bc
            approach = -(R_bc @ cmap.normals_cam[v, u].astype(np.float64))
            if not np.any(approach) or np.degrees(np.arccos(np.clip(approach @ down_base, -1, 1))) > f.max_approach_deg:
                approach = down_base.copy()
            height = float((T_tote_cam[:3, :3] @ p_cam + T_tote_cam[:3, 3])[2])
            # fingertips (10 mm past the TCP) go tip_depth below the surface, but stay clear of the floor
            tip = min(config.tip_depth_m, height - config.floor_gap_m)
            centre = surface + approach * (tip - TIP_PAST_TCP_M)
            side = np.cross(approach, [1.0, 0.0, 0.0] if abs(approach[0]) < 0.9 else [0.0, 1.0, 0.0])
            for a_index, angle in enumerate(angles):
                closing = np.cos(angle) * side + np.sin(angle) * np.cross(approach, side)
                T = _frame(approach, closing, centre)
                local = (own - T[:3, 3]) @ T[:3, :3]
                band = finger_band(local, gripper, config)
                if len(band) < 5:
                    removed['nothing between the fingers'] += 1
                    continue
                # the fingers close symmetrically: centre them on the part's extent along the closing axis
                low, high = float(band[:, 1].min()), float(band[:, 1].max())
                opening = high - low + config.opening_margin_m
                if opening > gripper.max_width:
                    removed['wider than the gripper'] += 1
                    continue
                T[:3, 3] += T[:3, 1] * (low + high) / 2
                if any(np.linalg.norm(T[:3, 3] - p) < avoid_radius_m for p in avoid_m):
                    removed['where a pick just failed'] += 1
                    continue
                # each pad should meet a patch of the part, not a corner: points within 3 mm of either side
                contact = min(int((band[:, 1] < low + 0.003).sum()), int((band[:, 1] > high - 0.003).sum()))
                if contact < config.min_contact_points:
                    removed['no contact patch for a finger'] += 1
                    continue
                # best by the cost map, then by the contact patches and a narrow grip
                prior = (float(cmap.score[v, u]) * min(1.0, contact / config.full_contact_points)
                         * (1.0 - config.w_narrow * opening / gripper.max_width))
                shift = np.array([0.0, (low + high) / 2, 0.0])
                tilt = float(np.arccos(np.clip(approach @ down_base, -1, 1)))
                features = grasp_features(local - shift, band - shift, opening, tilt, float(cmap.score[v, u]), tip,
                                          height, *relative)
                ranked.append([prior, k, rank, a_index, T, opening, features, float('nan')])
    if quality is not None and ranked:
        for row, p_hold in zip(ranked, quality(np.array([r[6] for r in ranked]))):
            row[0], row[7] = row[0] * p_hold ** config.hold_power, float(p_hold)
    ranked.sort(key=lambda r: -r[0])
    out: list[ModelFreeGrasp] = []
    def obstacle_tree(k: int) -> cKDTree | None:        # everything observed but the part itself and the tote
        others = obstacles[is_obstacle & (obstacle_owner != k + 1)]
        return cKDTree(others) if len(others) else None
    trees = LazyCache(obstacle_tree)
    for prior, k, rank, a_index, T, opening, features, p_hold in ranked:
        if max_candidates is not None and len(out) >= max_candidates:
            break
        if hand_hits_tote(gripper_corners(gripper, opening), T, tote, f.clearance_m, config.floor_gap_m / 2)[0]:
            removed['collides with the tote'] += 1
            continue
        clearance, why = check_hand(gripper_points(gripper, opening), T, partial(trees.__getitem__, k),
                                    reachable, f.clearance_m)
        if why:
            removed[why] += 1
            continue
        out.append(ModelFreeGrasp(k, rank, a_index, T, opening, clearance, prior * clearance / 0.01, features, p_hold))
    out.sort(key=lambda c: -c.score)
    return out, +removed, cmap


class ModelFreePipeline:
    """The first pick without a model: cost map, geometric grasps, then the same motion planning as the
    CAD pipeline (:class:`~binpick.grasp.pipeline.GraspPipeline`). Frames and arguments as there."""

    def __init__(self, T_base_cam: np.ndarray, tote: Tote, kinematics: Kinematics, planner: MotionPlanner,
                 gripper: Gripper = Gripper(), grasp_filter: GraspFilter | None = None,
                 config: CostMapConfig = CostMapConfig(), max_candidates: int = 20, max_plans: int = 5,
                 remember_failures: int = 3, quality: GraspQuality | None = None) -> None:
        """``remember_failures``: where the last this many failed picks were centred is avoided (0: never);
        ``quality``: a grasp-quality model that ranks the grasps by their chance of holding as well."""
        self.T_base_cam, self.tote = np.asarray(T_base_cam, dtype=np.float64), tote
        self.kinematics, self.planner, self.gripper = kinematics, planner, gripper
        self.grasp_filter, self.config = grasp_filter or GraspFilter(), config
        self.max_candidates, self.max_plans, self.quality = max_candidates, max_plans, quality
        self.last_cost_map: CostMap | None = None
        self.last_grasps: list[ModelFreeGrasp] = []       # the last frame's executable grasps, best first
        self.failed_at: deque[np.ndarray] = deque(maxlen=remember_failures)   # TCP positions, base frame, metres

    def report(self, candidate: GraspCandidate, success: bool) -> None:
        """How a pick this pipeline planned went: a grasp that slipped or closed on nothing is not tried
        again at once (its part is usually still there, in the same place)."""
        if not success:                    # a no-op with remember_failures=0 (maxlen 0)
            self.failed_at.append(candidate.T_base_tcp[:3, 3].copy())

    def plan(self, depth_m: np.ndarray, K: np.ndarray, masks: list[np.ndarray], q_start: np.ndarray) -> PickDecision:
        """The best plannable model-free pick on the instance ``masks`` of a frame."""
        t0 = time.perf_counter()
        found, removed, self.last_cost_map = model_free_grasps(
            depth_m, K, masks, self.T_base_cam, self.tote, self.gripper, grasp_filter=self.grasp_filter,
            config=self.config, reachable=self.kinematics.reachable, max_candidates=self.max_candidates,
            avoid_m=list(self.failed_at), quality=self.quality)
        self.last_grasps = found
        if not found:
            reason = 'no instance' if not masks else 'no reachable grasp'
            return PickDecision(None, None, reason, len(masks), 0, time.perf_counter() - t0, removed)
        return plan_first(found, self.planner, q_start, self.max_plans, len(masks), removed, t0)
