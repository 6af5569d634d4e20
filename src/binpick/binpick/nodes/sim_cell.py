"""sim_cell: the simulated cell behind the camera topics (no hardware, no Gazebo).

Publishes the raw stereo pair of a bin of parts (``sim/stereo/{left,right}/image_raw``, left camera info)
for ``stereo_camera`` with ``source: sim``, the ground truth of each capture on ``sim/ground_truth``
(evaluation only) and serves ``sim/remove_instance`` (a part taken out by hand). Like a Panda under
ros2_control it serves ``FollowJointTrajectory`` on ``arm_action`` and ``GripperCommand`` on
``gripper_action`` (position: the opening between the fingers, metres) and publishes ``joint_states``, so
the grasp planner drives it with the client code a real robot gets. The bin refills when empty, and also after
``refill_every`` captures of one bin when that is above 0; ``refill_every`` can be changed while the node runs
(``ros2 param set``), e.g. set to 0 while picks are planned on what the camera saw.

Physics (a capture, a refill, a pick) runs in callback groups of its own, so the node's parameter services,
which live in its default group, answer while a refill settles a full bin on a busy machine.
"""
from __future__ import annotations

import threading

import numpy as np
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rcl_interfaces.msg import SetParametersResult
from rclpy.action import ActionServer, CancelResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Header

from binpick.catalog import Catalog
from binpick.grasp.execution import START_TOLERANCE_RAD, start_error_rad
from binpick.grasp.motion import JOINT_NAMES
from binpick.nodes import base, msgs
from binpick.nodes.cell_params import cell_config
from binpick.sim.pick_cell import PickCell
from binpick_interfaces.msg import ObjectPose, ObjectPoseArray
from binpick_interfaces.srv import RemoveInstance

FINGER_NAMES = ('panda_finger_joint1', 'panda_finger_joint2')


class SimCellNode(base.BinpickNode):
    def __init__(self, **kwargs) -> None:
        super().__init__('sim_cell', **kwargs)
        cell = cell_config(self)
        self.object_id = self.param('object_id', 'zigzag_bracket')
        self.frame_id = self.param('frame_id', 'camera_color_optical_frame')
        self.cell = PickCell(Catalog().get(self.object_id), cell, self.param('fill', 'full'),
                             int(self.param('seed', 0)), refill_every=int(self.param('refill_every', 0)))
        self.sim = self.cell.sim
        self._lock = threading.Lock()     # physics: captures, removals and picks one at a time
        self.add_on_set_parameters_callback(self.on_parameters)
        self.left = self.create_publisher(msgs.Image, base.STEREO_LEFT, base.SENSOR_QOS)
        self.right = self.create_publisher(msgs.Image, base.STEREO_RIGHT, base.SENSOR_QOS)
        self.info = self.create_publisher(msgs.CameraInfo, base.STEREO_INFO, base.SENSOR_QOS)
        self.truth = self.create_publisher(ObjectPoseArray, base.GROUND_TRUTH, base.RELIABLE_QOS)
        physics = ReentrantCallbackGroup()   # waits on self._lock, never in the default group
        self.create_service(RemoveInstance, base.REMOVE_INSTANCE, self.on_remove, callback_group=physics)
        self.arm_action = str(self.param('arm_action', base.ARM_ACTION))
        self.arm = ActionServer(self, FollowJointTrajectory, self.arm_action, execute_callback=self.on_trajectory,
                                cancel_callback=lambda _: CancelResponse.ACCEPT, callback_group=physics)
        self.hand = ActionServer(self, GripperCommand, str(self.param('gripper_action', base.GRIPPER_ACTION)),
                                 execute_callback=self.on_gripper, callback_group=physics)
        self.joint_states = self.create_publisher(JointState, base.JOINT_STATES, base.RELIABLE_QOS)
        self.joint_state_timer = self.create_timer(1.0 / float(self.param('joint_state_hz', 30.0)),
                                                   self.guarded('joint_states', self.publish_joints),
                                                   callback_group=MutuallyExclusiveCallbackGroup())
        self.captures = 0
        self.create_timer(float(self.param('period_s', 1.0)), self.guarded('timer', self.capture),
                          callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f'simulated cell: {self.object_id}, {self.sim.fill} bins, '
                               f'{cell.camera.width}x{cell.camera.height}')

    def capture(self) -> None:
        with self._lock:
            cap = self.cell.capture()
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)
        h, w = cap.left_rgb.shape[:2]
        truth = ObjectPoseArray(header=header, model_version='', poses=[
            ObjectPose(object_id=self.object_id, instance_id=i, pose=msgs.pose_msg(T), confidence=1.0,
                       d_mask=float('nan'), d_image=float('nan'), d_geo=float('nan'))
            for i, T in cap.T_cam_obj.items() if cap.visible_px[i] > 0])
        self.truth.publish(truth)
        self.info.publish(msgs.camera_info_msg(cap.K, w, h, header))
        self.right.publish(msgs.image_msg(cap.right_rgb, 'rgb8', header))
        self.left.publish(msgs.image_msg(cap.left_rgb, 'rgb8', header))
        self.captures += 1

    def on_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """``refill_every`` may change while the node runs; an invalid value is refused with why."""
        for p in params:
            if p.name == 'refill_every' and (p.type_ != Parameter.Type.INTEGER or p.value < 0):
                return SetParametersResult(successful=False, reason=f'refill_every must be an integer >= 0 '
                                           f'(captures of one bin before a refill, 0: when empty), got {p.value!r}')
        for p in params:   # read once per capture; never waits for the physics lock
            if p.name == 'refill_every':
                self.sim.refill_every = p.value
        return SetParametersResult(successful=True)

    def on_remove(self, request, response):
        with self._lock:
            response.success = self.sim.remove(request.instance_id)
        response.message = (f'removed instance {request.instance_id}' if response.success
                            else f'instance {request.instance_id} is not in the bin')
        return response

    # -- the robot as ros2_control serves it ----------------------------------------------------------
    def publish_joints(self) -> None:
        q, finger_m = self.cell.joint_positions()
        self.joint_states.publish(JointState(
            header=Header(stamp=self.get_clock().now().to_msg()), name=[*JOINT_NAMES, *FINGER_NAMES],
            position=[*(float(v) for v in q), finger_m, finger_m]))

    def on_trajectory(self, goal_handle) -> FollowJointTrajectory.Result:
        """Follow a joint trajectory (any joint order; the arm's seven joints); refuses one with other joints,
        non-finite angles or a start away from the arm, and stops where it is when cancelled."""
        traj = goal_handle.request.trajectory
        result = FollowJointTrajectory.Result(error_code=FollowJointTrajectory.Result.SUCCESSFUL)
        if self.captures == 0:
            result.error_code = FollowJointTrajectory.Result.INVALID_GOAL
            result.error_string = f'{self.arm_action}: the simulated cell has no bin yet (no capture)'
        elif sorted(traj.joint_names) != sorted(JOINT_NAMES) or not traj.points:
            result.error_code = FollowJointTrajectory.Result.INVALID_JOINTS
            result.error_string = (f'{self.arm_action}: joints {list(traj.joint_names)} with {len(traj.points)} '
                                   f'points; expected the points of {list(JOINT_NAMES)}')
        else:
            order = [list(traj.joint_names).index(n) for n in JOINT_NAMES]
            path = np.array([[p.positions[k] for k in order] for p in traj.points], dtype=np.float64)
            off = start_error_rad(path, self.cell.joint_positions()[0]) if np.isfinite(path).all() else np.inf
            if off > START_TOLERANCE_RAD:
                result.error_code = FollowJointTrajectory.Result.INVALID_GOAL
                result.error_string = (f'{self.arm_action}: the trajectory starts {off:.3f} rad from the arm '
                                       f'(tolerance {START_TOLERANCE_RAD} rad) or is not finite')
        if result.error_code != FollowJointTrajectory.Result.SUCCESSFUL:
            self.reject(self.arm_action, result.error_string)
            goal_handle.abort()
            return result
        end = traj.points[-1].time_from_start
        seconds_per_point = (end.sec + end.nanosec * 1e-9) / max(1, len(path) - 1)
        with self._lock:
            self.cell.follow(path, seconds_per_point, stop=lambda: goal_handle.is_cancel_requested)
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
            result.error_string = 'cancelled: the arm stopped where it was'
        else:
            goal_handle.succeed()
        return result

    def on_gripper(self, goal_handle) -> GripperCommand.Result:
        """Open or close the hand to ``position`` (metres between the fingers; force-limited); a part let
        go beside the tote leaves the cell."""
        target_m = float(goal_handle.request.command.position)
        if self.captures == 0 or not np.isfinite(target_m):
            self.reject('gripper', f'opening {target_m} m before the first capture or not finite: refused')
            goal_handle.abort()
            return GripperCommand.Result(position=2 * self.cell.joint_positions()[1], reached_goal=False)
        with self._lock:
            placed = self.cell.grip(target_m)
            finger_m = self.cell.joint_positions()[1]
        if placed:
            self.get_logger().info(f'pick: placed instance {placed[0]} beside the tote')
        width_m = 2 * finger_m
        reached = abs(width_m - min(target_m, 0.08)) < 0.002
        goal_handle.succeed()
        return GripperCommand.Result(position=width_m, effort=0.0, stalled=not reached, reached_goal=reached)

    def close(self) -> None:
        self.cell.close()


def main(args=None) -> int:
    return base.run(SimCellNode, args)
