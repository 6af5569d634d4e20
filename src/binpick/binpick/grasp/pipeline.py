"""From one frame's verified poses to a planned pick: the grasp planner's work, ROS-free.

``GraspPipeline.plan`` ranks the executable CAD grasps of the verified poses (``plan_grasps``) and plans
the best ones with a :class:`~binpick.grasp.motion.MotionPlanner` until one plan succeeds. It is what
the ``grasp_planner`` node and ``binpick pick-bench`` run. Frames: base (robot), camera (OpenCV); metres.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from binpick.catalog.catalog import CatalogObject
from binpick.geometry import backproject, transform_points
from binpick.grasp.candidates import EstimatedPose, GraspCandidate, GraspFilter, Tote, plan_grasps
from binpick.grasp.motion import Kinematics, MotionPlanner, PickPlan, PlanningFailed


def depth_pixels(depth_m: np.ndarray, max_points: int = 30000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of at most ``max_points`` pixels with depth (metres, 0 or NaN = none), drawn at random."""
    vs, us = np.nonzero(np.isfinite(depth_m) & (depth_m > 0))
    if len(vs) > max_points:
        pick = np.random.default_rng(seed).choice(len(vs), max_points, replace=False)
        vs, us = vs[pick], us[pick]
    return vs, us


def cloud_in_base(depth_m: np.ndarray, K: np.ndarray, T_base_cam: np.ndarray, max_points: int = 30000,
                  seed: int = 0) -> np.ndarray:
    """(N, 3) points of a depth image (metres, 0 = none) in the base frame, at most ``max_points``."""
    vs, us = depth_pixels(depth_m, max_points, seed)
    return transform_points(T_base_cam, backproject(us, vs, depth_m, K))


@dataclass
class PickDecision:
    """The pick chosen for a frame, or why there is none.

    ``reason``: '' when ``plan`` is set, else ``no verified pose``, ``no reachable grasp`` or
    ``planning failed``; ``removed``: candidates removed per filter; ``planning_s``: from the poses to the
    planned pick (grasp ranking and motion planning).
    """

    candidate: GraspCandidate | None
    plan: PickPlan | None
    reason: str
    verified: int
    candidates: int
    planning_s: float
    removed: Counter = field(default_factory=Counter)


class GraspPipeline:
    """Grasps of one part planned for one robot and tote.

    Args:
        obj: the catalog part (its grasps, symmetries and surface).
        T_base_cam: hand-eye calibration (camera optical frame in the robot base frame).
        tote: the tote's inner box in the base frame.
        kinematics: IK of the arm (the reachability filter).
        planner: plans the chosen grasp (built-in or MoveIt).
        max_candidates: grasps checked in full (collisions, reach), best prior first.
        max_plans: grasps tried with the motion planner, best first, before giving up.
    """

    def __init__(self, obj: CatalogObject, T_base_cam: np.ndarray, tote: Tote, kinematics: Kinematics,
                 planner: MotionPlanner, grasp_filter: GraspFilter | None = None, max_candidates: int = 20,
                 max_plans: int = 5) -> None:
        self.obj, self.T_base_cam, self.tote = obj, np.asarray(T_base_cam, dtype=np.float64), tote
        self.kinematics, self.planner = kinematics, planner
        self.grasp_filter = grasp_filter or GraspFilter()
        self.grasps, self.model_points = obj.grasps(), obj.sample_points(2000)
        self.max_candidates, self.max_plans = max_candidates, max_plans

    def plan(self, poses: list[EstimatedPose], tau_appearance: float | None, tau_geometry_m: float | None,
             cloud_base_m: np.ndarray, q_start: np.ndarray) -> PickDecision:
        """The best plannable pick on ``poses`` that pass the thresholds (``None``: not applied)."""
        t0 = time.perf_counter()
        found, removed = plan_grasps(poses, tau_appearance, tau_geometry_m, self.grasps, self.obj.info,
                                     self.T_base_cam, cloud_base_m, self.tote, grasp_filter=self.grasp_filter,
                                     model_points_m=self.model_points, reachable=self.kinematics.reachable,
                                     max_candidates=self.max_candidates)
        verified = len(poses) - removed.get('unverified pose', 0)
        if not found:
            reason = 'no verified pose' if verified == 0 else 'no reachable grasp'
            return PickDecision(None, None, reason, verified, 0, time.perf_counter() - t0, removed)
        return plan_first(found, self.planner, q_start, self.max_plans, verified, removed, t0)


def plan_first(found: list[GraspCandidate], planner: MotionPlanner, q_start: np.ndarray, max_plans: int,
               verified: int, removed: Counter, t0: float) -> PickDecision:
    """Plan the candidates (best first) until one plan succeeds, trying at most ``max_plans``; ``t0``:
    when the decision started (``time.perf_counter``)."""
    failure = 'planning failed'
    for candidate in found[:max_plans]:
        try:
            plan = planner.plan_pick(q_start, candidate.T_base_tcp)
        except PlanningFailed as e:
            removed[e.reason] += 1
            failure = e.reason
            continue
        return PickDecision(candidate, plan, '', verified, len(found), time.perf_counter() - t0, removed)
    return PickDecision(None, None, failure, verified, len(found), time.perf_counter() - t0, removed)
