"""The grasp planner and the simulated cell over real DDS: the action binpick/pick refuses to pick
unverified poses (the arm stays still), and both nodes keep serving after a failure (picks through the
robot's ros2_control actions: test_ros2_control_dds.py)."""
import json

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.action import ActionClient  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402
from test_cell_dds import PERCEPTION, Cell, params_file, wait_for  # noqa: E402

from binpick.nodes import base  # noqa: E402
from binpick.nodes.grasp_planner import GraspPlannerNode  # noqa: E402
from binpick.nodes.sim_cell import SimCellNode  # noqa: E402
from binpick.sim.pick_cell import Q_HOME  # noqa: E402
from binpick_interfaces.action import Pick  # noqa: E402
from binpick_interfaces.msg import ObjectPoseArray  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


def send(client: ActionClient, goal, timeout: float = 120.0):
    """The result of one goal (waits for the server, the acceptance and the result)."""
    assert client.wait_for_server(20)
    sent = client.send_goal_async(goal)
    assert wait_for(sent.done, 20) and sent.result().accepted
    result = sent.result().get_result_async()
    assert wait_for(result.done, timeout), 'no result'
    return result.result().result


def test_pick_refuses_unverified_poses_and_the_arm_stays(ros, cell_models, tmp_path):
    calibration = tmp_path / 'zero.json'      # thresholds nothing passes: every pose is unverified
    calibration.write_text(json.dumps({'tau_appearance': 0.0, 'tau_geometry_m': 0.0, 'target_precision': 0.9,
                                       'precision': 1.0, 'accepted_share': 0.0, 'candidates': 1}))
    params = params_file(tmp_path, cell_models)
    params.write_text(params.read_text() + f'/**/grasp_planner:\n  ros__parameters:\n    acceptance: calibrated\n'
                                           f'    calibration_file: {calibration}\n')
    cell = Cell((*PERCEPTION, GraspPlannerNode), params)
    try:
        planner, sim = cell.nodes['GraspPlannerNode'], cell.nodes['SimCellNode']
        poses = cell.listen(ObjectPoseArray, base.POSES)
        assert wait_for(lambda: any(p.poses for p in poses), 120), 'no poses'
        assert wait_for(lambda: planner._frame is not None, 30)
        client = ActionClient(cell.probe, Pick, base.PICK)
        for _ in range(2):                     # refused twice: the planner keeps serving
            result = send(client, Pick.Goal())
            assert not result.success and result.failure_reason == 'no verified pose'
            assert result.verified_poses == 0 and result.grasp_index == -1
        assert sim.cell.steps == 0 and np.allclose(sim.cell.q, Q_HOME)      # the arm never moved
        other = send(client, Pick.Goal(object_id='hex_nut'))
        assert not other.success and 'not \'hex_nut\'' in other.failure_reason
    finally:
        cell.close()


def test_no_pick_without_a_frame_after_the_goal_and_the_refills_change_while_running(ros, cell_models, tmp_path):
    params = params_file(tmp_path, cell_models)
    params.write_text(params.read_text() + '/**/grasp_planner:\n  ros__parameters:\n    fresh_frame_timeout_s: 1.0\n'
                                           '/**/sim_cell:\n  ros__parameters:\n    refill_every: 3\n')
    cell = Cell((SimCellNode, GraspPlannerNode), params)      # no perception: no frame ever reaches the planner
    try:
        sim = cell.nodes['SimCellNode']
        result = send(ActionClient(cell.probe, Pick, base.PICK), Pick.Goal())
        assert not result.success and 'captured after the goal within 1 s' in result.failure_reason
        assert sim.cell.steps == 0
        client = AsyncParameterClient(cell.probe, 'sim_cell')
        assert client.wait_for_services(20)

        def set_refill(value):
            reply = client.set_parameters([Parameter('refill_every', value=value)])
            assert wait_for(reply.done, 20)
            return reply.result().results[0]
        assert sim.sim.refill_every == 3
        refused = set_refill(-1)
        assert not refused.successful and 'refill_every' in refused.reason and sim.sim.refill_every == 3
        assert set_refill(0).successful and sim.sim.refill_every == 0
        refills, captures = sim.sim.refills, sim.captures
        assert wait_for(lambda: sim.captures >= captures + 4, 30)
        assert sim.sim.refills == refills          # no refill of a bin with parts in it
    finally:
        cell.close()

