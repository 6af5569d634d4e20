"""The robot through ros2_control's interfaces over real DDS: the simulated cell serves FollowJointTrajectory
and GripperCommand and publishes joint_states as a Panda under ros2_control does, and the grasp planner's
client (binpick.nodes.robot_client) picks a part through them; a trajectory for other joints or from
elsewhere is refused, joint states that stop arriving and a cancelled pick stop the arm, and no further motion
starts."""
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from control_msgs.action import FollowJointTrajectory  # noqa: E402
from test_cell_dds import Cell, params_file, wait_for  # noqa: E402
from test_grasp_planner_dds import send  # noqa: E402

from binpick.catalog import Catalog  # noqa: E402
from binpick.grasp.candidates import EstimatedPose, Tote  # noqa: E402
from binpick.grasp.execution import Motion, pick_motions  # noqa: E402
from binpick.grasp.motion import BuiltinPlanner  # noqa: E402
from binpick.grasp.pipeline import GraspPipeline  # noqa: E402
from binpick.nodes import base, msgs  # noqa: E402
from binpick.nodes.robot_client import Ros2ControlRobot  # noqa: E402
from binpick.nodes.sim_cell import SimCellNode  # noqa: E402
from binpick.sim.pick_cell import Q_HOME, Q_PLACE  # noqa: E402
from binpick.sim.robot import PandaArm  # noqa: E402
from binpick_interfaces.msg import ObjectPoseArray  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


def _robot(cell) -> Ros2ControlRobot:
    robot = Ros2ControlRobot(cell.probe, base.ARM_ACTION, base.GRIPPER_ACTION, joint_state_timeout_s=1.0)
    assert wait_for(robot.ready, 30) and wait_for(lambda: robot._joints is not None, 30), 'no robot'
    return robot


def _swing(n: int = 600) -> list[Motion]:
    """A long arm motion from home towards the place (10 s at 60 points per second)."""
    return [Motion('arm', 'swing', np.linspace(Q_HOME, Q_PLACE, n))]


def test_the_grasp_planners_client_picks_a_part_through_follow_joint_trajectory(ros, cell_models, tmp_path):
    cell = Cell((SimCellNode,), params_file(tmp_path, cell_models))
    try:
        sim = cell.nodes['SimCellNode']
        truth = cell.listen(ObjectPoseArray, base.GROUND_TRUTH, base.RELIABLE_QOS)
        assert wait_for(lambda: truth, 60), 'no ground truth'
        robot = _robot(cell)
        q, opening = robot.joints()
        assert np.allclose(q, Q_HOME, atol=1e-6) and opening == pytest.approx(0.08)
        # refused, and nothing moves: other joints, a start away from the arm
        client = robot.arm
        goal = FollowJointTrajectory.Goal()
        goal.trajectory.joint_names = ['joint_a'] * 7
        refused = send(client, goal)
        assert refused.error_code == FollowJointTrajectory.Result.INVALID_JOINTS and 'joint_a' in refused.error_string
        ok, reason = robot.run([Motion('arm', 'far', np.linspace(Q_PLACE, Q_HOME, 10))], lambda: False)
        assert not ok and 'rad from where the trajectory starts; not moved' in reason and sim.cell.steps == 0
        # a pick planned on the exact poses of the last capture, run motion by motion
        obj, cfg = Catalog().get(sim.object_id), sim.cell.sim.cell
        with PandaArm(obstacles=cfg.tote_boxes()) as arm:
            pipeline = GraspPipeline(obj, cfg.T_base_cam, Tote(cfg.T_base_tote, cfg.bin.inner_size_m), arm,
                                     BuiltinPlanner(arm, arm.arm_is_free, Q_PLACE))
            with sim._lock:                    # no new capture between the ground truth and the plan
                poses = [EstimatedPose(msgs.pose_matrix(p.pose), 1.0, 0.0, 0.0) for p in truth[-1].poses]
                ids = list(sim.sim.instance_ids)
                decision = pipeline.plan(poses, None, None, np.empty((0, 3)), Q_HOME)
        assert decision.plan is not None, decision.reason
        ok, reason = robot.run(pick_motions(decision.plan, decision.candidate.opening_m, Q_HOME), lambda: False)
        assert ok, reason
        assert len(sim.sim.instance_ids) == len(ids) - 1            # the part left the cell beside the tote
        assert wait_for(lambda: np.allclose(robot.joints()[0], Q_HOME, atol=0.01), 5), 'not back home'
    finally:
        cell.close()


def test_stale_joint_states_and_a_cancel_stop_the_arm_and_start_nothing_more(ros, cell_models, tmp_path):
    cell = Cell((SimCellNode,), params_file(tmp_path, cell_models))
    try:
        sim = cell.nodes['SimCellNode']
        robot = _robot(cell)
        assert wait_for(lambda: sim.captures > 0, 60)
        # the joint states stop half a second into a 10 s motion: the goal is cancelled, the arm stops
        # (the publisher goes quiet; cancelling the node's timer from this thread races the executor)
        threading.Timer(0.5, setattr, (sim.joint_states, 'publish', lambda msg: None)).start()
        t0 = time.monotonic()
        ok, reason = robot.run(_swing(), lambda: False)
        assert not ok and 'stopped arriving' in reason, reason
        assert time.monotonic() - t0 < 8.0
        assert wait_for(lambda: not sim._lock.locked(), 5)      # the cancel reached the simulated controller
        q_stopped = sim.cell.joint_positions()[0]
        assert 0.05 < q_stopped[0] - Q_HOME[0] < Q_PLACE[0] - Q_HOME[0] - 0.05, 'the arm did not stop midway'
        ok, reason = robot.run(_swing(), lambda: False)     # no motion without fresh joint states
        assert not ok and 'stopped arriving' in reason
        assert np.allclose(sim.cell.joint_positions()[0], q_stopped)
        del sim.joint_states.publish                     # the joint states arrive again
        # a cancel half a second into the motion: the arm stops where it is, nothing further is sent
        assert wait_for(lambda: robot._joints is not None and time.monotonic() - robot._joints[2] < 0.2, 5)
        path = np.linspace(robot.joints()[0], Q_PLACE, 600)
        t_cancel = time.monotonic() + 0.5
        ok, reason = robot.run([Motion('arm', 'swing', path), Motion('hand', 'close')],
                               lambda: time.monotonic() > t_cancel)
        assert not ok and reason == 'swing: cancelled; the arm stopped', reason
        q_cancel = sim.cell.joint_positions()[0]
        assert np.abs(q_cancel - Q_PLACE).max() > 0.05                 # stopped short of the end
        assert sim.cell.joint_positions()[1] == pytest.approx(0.04, abs=1e-4)   # the hand was never closed
    finally:
        cell.close()
