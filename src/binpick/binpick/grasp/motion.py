"""Motion plans for a pick: pre-grasp → grasp → lift → place, in the arm's joint space (ROS-free).

``MotionPlanner`` is the one interface the grasp pipeline plans through. ``BuiltinPlanner`` implements
it with the Panda's IK and a joint-space planner for the free moves: OMPL's RRT-Connect (from the package
index) by default, collision-checked by a caller-given test of a joint configuration (in the simulated
cell: the arm against the tote in the pybullet world). ``nodes/moveit_adapter.py`` plans the free moves
with MoveIt 2 instead, where ``moveit_py`` is installed.

A pick is planned as:
- transit: from the current joints to the pre-grasp, ``pregrasp_m`` back along the approach
  (RRT-Connect, then shortcut);
- approach: a straight TCP line from the pre-grasp to the grasp (IK at every waypoint);
- lift: a straight TCP line ``lift_m`` up (base +z);
- place: from the lifted pose to ``q_place`` beside the tote (RRT-Connect).
Joint angles in radians; poses ``T_base_tcp`` in the robot base frame, metres.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from binpick.errors import BinpickError


class PlanningFailed(BinpickError):
    """No plan; ``reason`` says which stage failed (one of the pick-bench failure names)."""

    def __init__(self, reason: str, detail: str = '') -> None:
        super().__init__(f'{reason}: {detail}' if detail else reason)
        self.reason = reason


STAGES = ('transit', 'approach', 'lift', 'place')
JOINT_NAMES = tuple(f'panda_joint{k}' for k in range(1, 8))   # the joints of a plan, in column order


@dataclass
class PickPlan:
    """Joint paths (n x 7, radians) of one pick and how long planning took (seconds)."""

    transit: np.ndarray
    approach: np.ndarray
    lift: np.ndarray
    place: np.ndarray
    planning_s: float

    @property
    def stages(self) -> list[tuple[str, np.ndarray]]:
        return [(name, getattr(self, name)) for name in STAGES]


class MotionPlanner(Protocol):
    """What the grasp pipeline plans with (the built-in planner or MoveIt)."""

    def plan_pick(self, q_start: np.ndarray, T_base_tcp: np.ndarray) -> PickPlan:
        """A plan to the grasp ``T_base_tcp`` from ``q_start``; raises PlanningFailed."""
        ...


class Kinematics(Protocol):
    lower: np.ndarray
    upper: np.ndarray

    def ik(self, T_base_tcp: np.ndarray, seed_q: np.ndarray | None = None, attempts: int = 3) -> np.ndarray | None:
        ...

    def reachable(self, T_base_tcp: np.ndarray, attempts: int = 1) -> bool:
        ...


def rrt_connect(q_start: np.ndarray, q_goal: np.ndarray, valid: Callable[[np.ndarray], bool],
                lower: np.ndarray, upper: np.ndarray, timeout_s: float = 1.0,
                check_step: float = 0.005) -> np.ndarray | None:
    """A collision-free joint path (n x d, start and goal included) by OMPL's RRT-Connect, shortcut;
    None when none was found within ``timeout_s``. Motions are checked every ``check_step`` (the
    space's units, Euclidean); :class:`BuiltinPlanner` checks the path it executes once more."""
    from ompl import base as ob
    from ompl import geometric as og
    from ompl import util as ou

    ou.setLogLevel(ou.LogLevel.LOG_WARN)
    d = len(q_start)
    space = ob.RealVectorStateSpace(d)
    bounds = ob.RealVectorBounds(d)
    for k in range(d):
        bounds.setLow(k, float(lower[k]))
        bounds.setHigh(k, float(upper[k]))
    space.setBounds(bounds)
    setup = og.SimpleSetup(space)
    setup.setStateValidityChecker(lambda s: bool(valid(np.array([s[k] for k in range(d)]))))
    start, goal = space.allocState(), space.allocState()
    for k in range(d):
        start[k], goal[k] = float(q_start[k]), float(q_goal[k])
    setup.setStartAndGoalStates(start, goal)
    info = setup.getSpaceInformation()
    info.setStateValidityCheckingResolution(check_step / space.getMaximumExtent())
    setup.setPlanner(og.RRTConnect(info))
    if not setup.solve(timeout_s) or not setup.haveExactSolutionPath():
        return None
    setup.simplifySolution()
    path = setup.getSolutionPath()
    return np.array([[path.getState(i)[k] for k in range(d)] for i in range(path.getStateCount())])


def densify(path: np.ndarray, max_step_rad: float) -> np.ndarray:
    """The joint path with waypoints inserted so no joint moves more than ``max_step_rad`` between two."""
    out = [path[0]]
    for a, b in zip(path[:-1], path[1:]):
        n = max(1, int(np.ceil(np.abs(b - a).max() / max_step_rad)))
        out += [a + (b - a) * (k / n) for k in range(1, n + 1)]
    return np.array(out)


def cartesian_path(kinematics: Kinematics, T_from: np.ndarray, T_to: np.ndarray, q_seed: np.ndarray,
                   step_m: float = 0.01, max_jump_rad: float = 0.3) -> np.ndarray | None:
    """Joint waypoints (n x 7) moving the TCP on a straight line from ``T_from`` to ``T_to`` (same
    orientation), each solved by IK from the previous; None when a waypoint has no solution or the
    arm would jump (a joint changing by more than ``max_jump_rad`` between waypoints)."""
    n = max(1, int(np.ceil(np.linalg.norm(T_to[:3, 3] - T_from[:3, 3]) / step_m)))
    path, q = [], np.asarray(q_seed, dtype=np.float64)
    for k in range(n + 1):
        T = T_from.copy()
        T[:3, 3] = T_from[:3, 3] + (T_to[:3, 3] - T_from[:3, 3]) * (k / n)
        q_next = kinematics.ik(T, seed_q=q, attempts=1)
        if q_next is None or (path and np.abs(q_next - q).max() > max_jump_rad):
            return None
        path.append(q_next)
        q = q_next
    return np.array(path)


@dataclass(frozen=True)
class PickMotion:
    """The shape of a pick: pre-grasp distance back along the approach, lift height, joint-space
    resolution of executed paths and of collision checks, planner time budget per transit."""

    pregrasp_m: float = 0.10
    lift_m: float = 0.15
    max_step_rad: float = 0.02
    check_step_rad: float = 0.01
    transit_timeout_s: float = 1.0


JointPlanner = Callable[[np.ndarray, np.ndarray], 'np.ndarray | None']   # (q_from, q_to) -> path or None


class BuiltinPlanner:
    """IK for the straight moves, a joint-space planner for the free ones. ``valid(q)``: the arm at ``q``
    collides with nothing it must not touch (checked along every stage, the straight approach and lift
    too); ``q_place``: where parts are released, outside the tote; ``free_moves``: plans a joint path
    between two configurations, or None (default: OMPL's RRT-Connect with ``valid``)."""

    def __init__(self, kinematics: Kinematics, valid: Callable[[np.ndarray], bool], q_place: np.ndarray,
                 motion: PickMotion | None = None, free_moves: JointPlanner | None = None) -> None:
        self.kinematics, self.valid, self.q_place = kinematics, valid, np.asarray(q_place, dtype=np.float64)
        self.motion = motion or PickMotion()
        self.free_moves = free_moves or (lambda q_from, q_to: rrt_connect(
            q_from, q_to, self.valid, self.kinematics.lower, self.kinematics.upper, self.motion.transit_timeout_s,
            self.motion.check_step_rad))

    def _transit(self, q_from: np.ndarray, q_to: np.ndarray, stage: str) -> np.ndarray:
        if not self.valid(q_to):
            raise PlanningFailed('planning failed', f'the {stage} goal collides')
        for _ in range(3):    # whichever planner made it, the path is checked here, as it will be executed
            path = self.free_moves(q_from, q_to)
            if path is None:
                break
            # every check_step_rad (Euclidean, as the planner checks motions) along the straight segments
            if all(self.valid(q) for q in densify(path, self.motion.check_step_rad / np.sqrt(path.shape[1]))):
                return densify(path, self.motion.max_step_rad)
        raise PlanningFailed('planning failed', f'no collision-free {stage} path')

    def plan_pick(self, q_start: np.ndarray, T_base_tcp: np.ndarray) -> PickPlan:
        t0 = time.perf_counter()
        m = self.motion
        if not np.isfinite(T_base_tcp).all():
            raise PlanningFailed('planning failed', 'the grasp pose is not finite')
        T_pre = T_base_tcp.copy()
        T_pre[:3, 3] -= m.pregrasp_m * T_base_tcp[:3, 2]          # back along the approach (TCP +z)
        T_lift = T_base_tcp.copy()
        T_lift[:3, 3] += (0.0, 0.0, m.lift_m)
        q_pre = self.kinematics.ik(T_pre, seed_q=q_start)
        if q_pre is None:
            raise PlanningFailed('no reachable grasp', 'no IK solution for the pre-grasp')
        approach = cartesian_path(self.kinematics, T_pre, T_base_tcp, q_pre)
        if approach is None:
            raise PlanningFailed('no reachable grasp', 'the straight approach leaves the arm\'s reach')
        lift = cartesian_path(self.kinematics, T_base_tcp, T_lift, approach[-1])
        if lift is None:
            raise PlanningFailed('no reachable grasp', 'the straight lift leaves the arm\'s reach')
        approach, lift = densify(approach, m.max_step_rad), densify(lift, m.max_step_rad)
        if not all(self.valid(q) for q in np.concatenate([approach, lift])):
            raise PlanningFailed('no reachable grasp', 'the arm would touch the tote on the approach or lift')
        transit = self._transit(np.asarray(q_start, dtype=np.float64), q_pre, 'transit')
        place = self._transit(lift[-1], self.q_place, 'place')
        return PickPlan(transit, approach, lift, place, time.perf_counter() - t0)
