"""A pick plan as the motions a ros2_control robot is driven with: joint trajectories for the arm
(``FollowJointTrajectory``) and openings for the hand (``GripperCommand``), one after the other, with the
checks a client makes between them. Plain Python; the grasp planner node sends them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from binpick.grasp.motion import PickPlan

HAND_OPEN_M = 0.08          # the Franka Hand's full opening
# a hand closed on a part stays at least this far open: closed on nothing the simulated Panda's fingers read
# 0.00 mm, on the 4 mm plate of zigzag_bracket 0.9 mm (their collision meshes overlap the part's edge)
HELD_WIDTH_M = 0.0005
START_TOLERANCE_RAD = 0.05  # a trajectory must start this close to where the arm is
RETURN_POINTS = 60          # the move back home after the place: a joint interpolation of this many points


@dataclass(frozen=True)
class Motion:
    """One motion: ``kind`` 'arm' (``path`` n x 7 radians) or 'hand' (``opening_m``); ``stage`` names it,
    ``check_held``: before it, the hand must still hold a part (else the pick slipped)."""

    kind: str
    stage: str
    path: np.ndarray | None = None
    opening_m: float = 0.0
    check_held: bool = False


def pick_motions(plan: PickPlan, opening_m: float, q_home: np.ndarray) -> list[Motion]:
    """Open, transit, approach, close, lift, place, (still held?) open, back home."""
    home = np.linspace(plan.place[-1], q_home, RETURN_POINTS)
    return [Motion('hand', 'open', opening_m=opening_m),
            Motion('arm', 'transit', plan.transit),
            Motion('arm', 'approach', plan.approach),
            Motion('hand', 'close', opening_m=0.0),
            Motion('arm', 'lift', plan.lift),
            Motion('arm', 'place', plan.place),
            Motion('hand', 'release', opening_m=HAND_OPEN_M, check_held=True),
            Motion('arm', 'home', home)]


def start_error_rad(path: np.ndarray, q_now: np.ndarray) -> float:
    """How far (largest joint difference, radians) a path starts from the arm's joints."""
    return float(np.abs(np.asarray(path)[0] - np.asarray(q_now)).max())


def trajectory_seconds(n_points: int, seconds_per_point: float) -> float:
    return max(0, n_points - 1) * seconds_per_point
