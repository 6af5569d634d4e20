"""The Panda's kinematics: IK solutions reach the TCP pose within tolerance and the joint limits, and an
unreachable pose gives None."""
import numpy as np
import pytest

from binpick.geometry import axis_angle, make_T, rotation_angle
from binpick.sim.robot import PandaArm


@pytest.fixture(scope='module')
def arm():
    with PandaArm() as a:
        yield a


def top_down(x, y, z, yaw):
    """A TCP pose approaching straight down (gripper z = base -z), turned by ``yaw`` about the vertical."""
    R = axis_angle(np.array([0, 0, 1.0]), yaw) @ np.diag([1.0, -1.0, -1.0])
    return make_T(R, [x, y, z])


def test_tcp_axes_follow_the_gripper_convention(arm):
    T = arm.fk(np.array([0.0, 0.0, 0.0, -np.pi / 2, 0.0, np.pi / 2, np.pi / 4]))
    assert T[2, 2] == pytest.approx(-1.0, abs=1e-6)       # the approach (z) points down in this posture


def test_ik_reaches_poses_above_a_tote_in_front(arm):
    rng = np.random.default_rng(3)
    for _ in range(12):
        target = top_down(rng.uniform(0.4, 0.6), rng.uniform(-0.12, 0.12), rng.uniform(0.05, 0.3),
                          rng.uniform(-np.pi / 2, np.pi / 2))
        q = arm.ik(target)
        assert q is not None, target
        assert np.all(q >= arm.lower - 1e-6) and np.all(q <= arm.upper + 1e-6)
        T = arm.fk(q)
        assert np.linalg.norm(T[:3, 3] - target[:3, 3]) < 0.002
        assert rotation_angle(T[:3, :3].T @ target[:3, :3]) < np.deg2rad(2)


def test_unreachable_and_bad_poses(arm):
    assert arm.ik(top_down(1.5, 0.0, 0.2, 0.0)) is None          # beyond the arm's reach (0.855 m)
    assert not arm.reachable(np.full((4, 4), np.nan))
