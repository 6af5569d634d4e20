"""The robot as ros2_control serves it: the arm through a ``FollowJointTrajectory`` action (a joint trajectory
controller), the hand through a ``GripperCommand`` action, and ``joint_states`` to know where the arm is.

A motion starts only from fresh joint states and from where its trajectory begins; a refused goal, an
aborted one, joint states that stop arriving during a motion (the goal is cancelled) or a cancelled pick end
the pick with the reason, and no further motion starts."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from action_msgs.msg import GoalStatus
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionClient
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from binpick.grasp.execution import HELD_WIDTH_M, START_TOLERANCE_RAD, Motion, start_error_rad, trajectory_seconds
from binpick.grasp.motion import JOINT_NAMES
from binpick.nodes import base, msgs

STATUS = {GoalStatus.STATUS_ABORTED: 'aborted', GoalStatus.STATUS_CANCELED: 'cancelled'}
GRIP_EFFORT_N = 70.0        # what the Franka Hand holds continuously
ACCEPT_S = 10.0             # a controller answers a goal within this (it is never re-sent)


class MotionFailed(Exception):
    """A motion that did not happen as sent; the message says why."""


class Ros2ControlRobot:
    """Clients of a ros2_control robot on ``node`` (their callbacks in ``group``)."""

    def __init__(self, node, arm_action: str, gripper_action: str, joint_state_timeout_s: float = 1.0,
                 seconds_per_point: float = 1.0 / 60, group=None) -> None:
        self.node, self.arm_action, self.gripper_action = node, arm_action, gripper_action
        self.joint_state_timeout_s, self.seconds_per_point = joint_state_timeout_s, seconds_per_point
        self.arm = ActionClient(node, FollowJointTrajectory, arm_action, callback_group=group)
        self.hand = ActionClient(node, GripperCommand, gripper_action, callback_group=group)
        self._joints: tuple[np.ndarray, float, float] | None = None   # q, hand opening (m), when (monotonic)
        node.create_subscription(JointState, base.JOINT_STATES, self._on_joints, base.RELIABLE_QOS,
                                 callback_group=group)

    def _on_joints(self, msg: JointState) -> None:
        names = list(msg.name)
        missing = [n for n in JOINT_NAMES if n not in names]
        if missing or len(msg.position) != len(names):       # logged, and the last good state ages out
            self.node.get_logger().warning(f'{base.JOINT_STATES}: no position of {missing or "every joint named"}',
                                           throttle_duration_sec=5.0)
            return
        q = np.array([msg.position[names.index(n)] for n in JOINT_NAMES], dtype=np.float64)
        fingers = [msg.position[k] for k, n in enumerate(names) if 'finger' in n]
        self._joints = (q, float(sum(fingers)), time.monotonic())

    def joints(self) -> tuple[np.ndarray, float]:
        """The arm's joints and the hand's opening from joint states no older than the timeout."""
        if self._joints is None:
            raise MotionFailed(f'no joint states on {base.JOINT_STATES}')
        q, opening_m, when = self._joints
        age_s = time.monotonic() - when
        if age_s > self.joint_state_timeout_s:
            raise MotionFailed(f'joint states on {base.JOINT_STATES} stopped arriving {age_s:.1f} s ago')
        return q, opening_m

    def ready(self) -> bool:
        return self.arm.server_is_ready() and self.hand.server_is_ready()

    def run(self, motions: list[Motion], cancelled: Callable[[], bool]) -> tuple[bool, str]:
        """Run the motions in order: (picked, reason). A failed motion ends the pick where it failed."""
        closed_on_part = held = False
        try:
            for m in motions:
                if cancelled():
                    return False, f'cancelled before {m.stage}'
                if m.check_held:
                    held = self.joints()[1] >= HELD_WIDTH_M
                if m.kind == 'arm':
                    self._follow(m, cancelled)
                else:
                    opening_m = self._grip(m.opening_m)
                    if m.stage == 'close':
                        closed_on_part = opening_m >= HELD_WIDTH_M
        except MotionFailed as e:
            return False, str(e)
        if held:
            return True, ''
        return False, 'slipped' if closed_on_part else 'wrong pose (the hand closed on nothing)'

    def _wait(self, future, timeout_s: float, watch: Callable[[], None] | None = None) -> None:
        end = time.monotonic() + timeout_s
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        while not done.wait(0.05):
            if watch is not None:
                watch()
            if time.monotonic() > end:
                raise TimeoutError

    def _send(self, client: ActionClient, goal, name: str):
        if not client.wait_for_server(timeout_sec=5.0):
            raise MotionFailed(f'no robot: {name} is not served')
        sent = client.send_goal_async(goal)
        try:
            self._wait(sent, ACCEPT_S)
        except TimeoutError:
            raise MotionFailed(f'{name} did not answer the goal in {ACCEPT_S:.0f} s') from None
        handle = sent.result()
        if not handle.accepted:
            raise MotionFailed(f'{name} refused the goal')
        return handle

    def _follow(self, m: Motion, cancelled: Callable[[], bool]) -> None:
        q_now, _ = self.joints()
        off = start_error_rad(m.path, q_now)
        if off > START_TOLERANCE_RAD:
            raise MotionFailed(f'{m.stage}: the arm is {off:.3f} rad from where the trajectory starts; not moved')
        points = [JointTrajectoryPoint(positions=[float(v) for v in q],
                                       time_from_start=msgs.duration_msg(k * self.seconds_per_point))
                  for k, q in enumerate(m.path)]
        goal = FollowJointTrajectory.Goal(trajectory=JointTrajectory(joint_names=list(JOINT_NAMES), points=points))
        handle = self._send(self.arm, goal, self.arm_action)
        result = handle.get_result_async()

        def watch() -> None:           # stop the arm when the pick is cancelled or the joint states stop
            try:
                self.joints()
                if cancelled():
                    raise MotionFailed(f'{m.stage}: cancelled; the arm stopped')
            except MotionFailed:
                handle.cancel_goal_async()
                raise
        try:
            self._wait(result, trajectory_seconds(len(points), self.seconds_per_point) + 60.0, watch)
        except TimeoutError:
            handle.cancel_goal_async()
            raise MotionFailed(f'{m.stage}: {self.arm_action} did not finish; goal cancelled') from None
        r, status = result.result().result, result.result().status
        if r.error_code != FollowJointTrajectory.Result.SUCCESSFUL or status != GoalStatus.STATUS_SUCCEEDED:
            raise MotionFailed(f'{m.stage}: {self.arm_action} failed ({STATUS.get(status, status)}, error '
                               f'{r.error_code}): {r.error_string}')

    def _grip(self, opening_m: float) -> float:
        """The hand to ``opening_m``; returns the opening it reached (metres)."""
        goal = GripperCommand.Goal()
        goal.command.position, goal.command.max_effort = float(opening_m), GRIP_EFFORT_N
        handle = self._send(self.hand, goal, self.gripper_action)
        result = handle.get_result_async()
        try:
            self._wait(result, 30.0)
        except TimeoutError:
            handle.cancel_goal_async()
            raise MotionFailed(f'{self.gripper_action} did not finish in 30 s; goal cancelled') from None
        if result.result().status != GoalStatus.STATUS_SUCCEEDED:
            raise MotionFailed(f'{self.gripper_action}: {STATUS.get(result.result().status, "failed")}')
        return float(result.result().result.position)
