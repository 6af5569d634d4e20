"""grasp_planner: picks one verified part with a CAD grasp when asked on the action ``binpick/pick``.

It keeps the latest perceived frame with its poses (colour, depth, camera info, instances, ``binpick/poses``).
On a goal it waits for a frame captured after the goal arrived (up to ``fresh_frame_timeout_s``; 0: plan on
the latest frame), since parts move between frames (a pick, a refill). It scores that frame's poses as
self-training does (``PoseScorer``), keeps the ones that pass the cell's acceptance thresholds
(``acceptance: bank``, the recorder's mu + sigma over the bank on
``binpick/bank_statistics``; or ``calibrated`` with ``calibration_file``), turns the part's CAD grasps into
the robot base frame with the hand-eye calibration of ``config/cell.yaml``, plans with the built-in planner
(IK + OMPL RRT-Connect, checked against the tote), publishes the chosen grasp on ``binpick/grasp_markers``
and has it executed: ``execute: ros2_control`` drives the robot motion by motion through its
``FollowJointTrajectory`` (``arm_action``) and ``GripperCommand`` (``gripper_action``) actions, reading
``joint_states`` (:mod:`binpick.nodes.robot_client`), as a real Panda and the simulated cell both serve them;
``none`` (the default) only plans. A pose
that fails verification is never picked; a cancelled pick stops the arm; whatever fails, the result says why
and no further motion starts.
"""
from __future__ import annotations

import threading
import traceback

import numpy as np
from rclpy.action import ActionServer, CancelResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from visualization_msgs.msg import Marker, MarkerArray

from binpick.catalog import Catalog
from binpick.data.hand_eye import load_hand_eye
from binpick.geometry import invert
from binpick.grasp.candidates import EstimatedPose, Tote
from binpick.grasp.execution import pick_motions
from binpick.grasp.motion import BuiltinPlanner, MotionPlanner
from binpick.grasp.pipeline import GraspPipeline, cloud_in_base
from binpick.nodes import base, msgs, outputs
from binpick.nodes.cell_params import cell_config
from binpick.nodes.frames import perceived_frame
from binpick.nodes.moveit_adapter import moveit_available, moveit_planner
from binpick.nodes.robot_client import Ros2ControlRobot
from binpick.selftrain.calibration import Calibration
from binpick.selftrain.perceptual import PerceptualDistance
from binpick.selftrain.scores import PoseScorer
from binpick.sim.pick_cell import Q_HOME, Q_PLACE
from binpick.sim.robot import PandaArm
from binpick_interfaces.action import Pick
from binpick_interfaces.msg import BankStatistics

ACCEPTANCE = ('bank', 'calibrated')
EXECUTE = ('ros2_control', 'none')
PLANNERS = ('builtin', 'moveit')


class GraspPlannerNode(base.BinpickNode):
    def __init__(self, **kwargs) -> None:
        super().__init__('grasp_planner', **kwargs)
        cell = cell_config(self)
        self.object_id = self.param('object_id', 'zigzag_bracket')
        obj = Catalog().get(self.object_id)
        self.acceptance = self.param('acceptance', 'bank')
        self.execute_mode = self.param('execute', 'none')
        planner_kind = self.param('planner', 'builtin')
        if self.acceptance not in ACCEPTANCE or self.execute_mode not in EXECUTE or planner_kind not in PLANNERS:
            raise ValueError(f'acceptance must be one of {ACCEPTANCE}, execute one of {EXECUTE} and planner one of '
                             f'{PLANNERS}, got {self.acceptance!r}, {self.execute_mode!r} and {planner_kind!r}')
        calibration_file = self.param('calibration_file', '')
        self.calibration = Calibration.load(calibration_file) if self.acceptance == 'calibrated' else None
        self.T_base_cam = cell.T_base_cam
        self.kinematics = PandaArm(obstacles=cell.tote_boxes())
        planner = self._planner(planner_kind, cell)
        self.pipeline = GraspPipeline(obj, cell.T_base_cam, Tote(cell.T_base_tote, cell.bin.inner_size_m),
                                      self.kinematics, planner)
        self.scorer = PoseScorer(obj, PerceptualDistance(self.param('perceptual', 'auto')),   # as the recorder's
                                 self.param('geometry', 'visible'), int(self.param('crop_px', 64)))
        self.fresh_frame_timeout_s = float(self.param('fresh_frame_timeout_s', 20.0))
        self._frame: dict | None = None
        self._thresholds: tuple[float | None, float | None] | None = None
        self._lock = threading.Condition()     # notified on every new frame
        self.markers = self.create_publisher(MarkerArray, base.GRASP_MARKERS, base.RELIABLE_QOS)
        self.static_tf = self.create_publisher(outputs.TFMessage, outputs.TF_STATIC, base.LATCHED_QOS)
        self.static_tf.publish(outputs.static_tf_msg(*self._camera_frames(), self.T_base_cam))
        self.subscribe_frame(['color', 'depth', 'info', 'instances', 'poses'], self.guarded('frame', self.on_frame))
        self.create_subscription(BankStatistics, base.BANK_STATS, self.guarded(base.BANK_STATS, self.on_stats),
                                 base.RELIABLE_QOS)
        group = ReentrantCallbackGroup()
        self.robot = Ros2ControlRobot(self, str(self.param('arm_action', base.ARM_ACTION)),
                                      str(self.param('gripper_action', base.GRIPPER_ACTION)),
                                      float(self.param('joint_state_timeout_s', 1.0)), group=group)
        self.server = ActionServer(self, Pick, base.PICK, execute_callback=self.pick, callback_group=group,
                                   cancel_callback=lambda _: CancelResponse.ACCEPT)
        self.get_logger().info(f'grasp planner for {self.object_id}: {len(self.pipeline.grasps.grasps)} CAD grasps, '
                               f'acceptance {self.acceptance}, execute {self.execute_mode}, planner {planner_kind}')

    def _camera_frames(self) -> tuple[str, str]:
        """(robot base frame, camera frame) of the hand-eye transform: the hand-eye file's, else the
        parameters' (base_frame_id, the camera's frame_id)."""
        hand_eye_file = str(self.param('hand_eye_file', ''))
        if hand_eye_file:
            calib = load_hand_eye(hand_eye_file)
            return calib.base_frame, calib.camera_frame
        return (str(self.param('base_frame_id', 'panda_link0')),
                str(self.param('frame_id', 'camera_color_optical_frame')))

    def _planner(self, kind: str, cell) -> MotionPlanner:
        """The built-in planner, or MoveIt's free moves (``planner: moveit``: ``moveit_py`` and the robot's
        MoveIt configuration among this node's parameters, as a MoveIt launch file gives them)."""
        if kind == 'builtin':
            return BuiltinPlanner(self.kinematics, self.kinematics.arm_is_free, Q_PLACE)
        if not moveit_available():
            raise ValueError('planner: moveit, but moveit_py is not installed (a ROS 2 install with MoveIt 2 has '
                             'it; the pip set-up does not): use planner: builtin')
        from moveit.planning import MoveItPy
        return moveit_planner(MoveItPy(node_name=f'{self.get_name()}_moveit'), self.kinematics,
                              self.kinematics.arm_is_free, Q_PLACE, cell.tote_boxes())

    def on_frame(self, m: dict) -> None:
        with self._lock:
            self._frame = m
            self._lock.notify_all()

    def on_stats(self, msg: BankStatistics) -> None:
        with self._lock:
            self._thresholds = (msg.tau_appearance, msg.tau_geometry)

    # -- one pick -------------------------------------------------------------------------------------
    def pick(self, goal_handle) -> Pick.Result:
        result = Pick.Result(success=False, instance_id=-1, grasp_index=-1)
        try:
            self._pick(goal_handle, result)
        except msgs.BadMessage as e:
            self.reject('frame', str(e))
            result.failure_reason = f'bad frame: {e}'
        except Exception as e:  # noqa: BLE001 - a failed pick never takes the planner down; it says why
            self.get_logger().error(f'pick failed: {type(e).__name__}: {e}\n{traceback.format_exc()}')
            result.failure_reason = f'{type(e).__name__}: {e}'
        self._feedback(goal_handle, 'done')
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif result.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def _feedback(self, goal_handle, stage: str) -> None:
        goal_handle.publish_feedback(Pick.Feedback(stage=stage))

    def _pick(self, goal_handle, result: Pick.Result) -> None:
        goal = goal_handle.request
        if goal.object_id not in ('', self.object_id):
            result.failure_reason = f'this planner picks {self.object_id}, not {goal.object_id!r}'
            return
        self._feedback(goal_handle, 'waiting for a frame')
        m, thresholds = self._frame_after(self.get_clock().now().nanoseconds)
        if m is None:
            result.failure_reason = (f'no poses estimated on a frame captured after the goal within '
                                     f'{self.fresh_frame_timeout_s:.0f} s' if self.fresh_frame_timeout_s > 0
                                     else 'no poses')
            return
        self._feedback(goal_handle, 'scoring')
        poses, labels, frame = self._scored_poses(m)
        if self.calibration is not None:
            thresholds = (self.calibration.tau_appearance, self.calibration.tau_geometry_m)
        if thresholds is None:          # nothing is verified before the cell has acceptance thresholds
            result.failure_reason = f'no verified pose: no acceptance thresholds yet (waiting for {base.BANK_STATS})'
            return
        self._feedback(goal_handle, 'planning')
        decision = self.pipeline.plan(poses, thresholds[0], thresholds[1],
                                      cloud_in_base(frame.depth_m, frame.K, self.T_base_cam),
                                      Q_HOME)          # the arm starts from home: it returns there after every pick
        result.verified_poses, result.candidates = decision.verified, decision.candidates
        result.planning_time_s = decision.planning_s
        if decision.plan is None:
            result.failure_reason = decision.reason
            return
        result.grasp_index = decision.candidate.grasp_index
        result.instance_id = labels[decision.candidate.instance]
        self._publish_grasp(m['color'].header, decision.candidate.T_base_tcp, decision.candidate.opening_m)
        if self.execute_mode == 'none':
            result.success = True
            return
        self._feedback(goal_handle, 'executing')
        result.success, result.failure_reason = self.robot.run(
            pick_motions(decision.plan, decision.candidate.opening_m, Q_HOME), lambda: goal_handle.is_cancel_requested)

    def _frame_after(self, t_goal_ns: int) -> tuple[dict | None, tuple | None]:
        """The latest frame once one was captured at or after ``t_goal_ns`` (node clock), or None after the
        timeout; with ``fresh_frame_timeout_s`` 0 the latest frame, however old. Also the acceptance thresholds."""
        def fresh() -> bool:
            return self._frame is not None and (self.fresh_frame_timeout_s <= 0
                                                or msgs.stamp_ns(self._frame['color'].header) >= t_goal_ns)
        with self._lock:
            found = self._lock.wait_for(fresh, timeout=max(self.fresh_frame_timeout_s, 0.0))
            return (self._frame if found else None), self._thresholds

    def _scored_poses(self, m: dict):
        """The frame's poses of this part with verification scores, their instance labels, the frame."""
        frame = perceived_frame(m)
        if m['poses'].header.frame_id != m['color'].header.frame_id:
            raise msgs.BadMessage(f'{base.POSES}: poses in frame {m["poses"].header.frame_id!r}, not the camera '
                                  f'frame {m["color"].header.frame_id!r} of the image they were estimated on')
        by_label = {inst.label: k for k, inst in enumerate(m['instances'].instances)}
        chosen = [p for p in m['poses'].poses if p.instance_id in by_label and p.object_id == self.object_id]
        T = [msgs.pose_matrix(p.pose) for p in chosen]
        scores = self.scorer.score(frame.rgb, frame.depth_m, frame.K, [frame.masks[by_label[p.instance_id]]
                                                                       for p in chosen], T) if chosen else []
        poses = [EstimatedPose(t, float(p.confidence), s.d_appearance, s.d_geo_m) for t, p, s in zip(T, chosen, scores)]
        return poses, [p.instance_id for p in chosen], frame

    def _publish_grasp(self, header, T_base_tcp: np.ndarray, opening_m: float) -> None:
        """The chosen grasp in the camera frame: an arrow along the approach and the two fingers."""
        T_cam_tcp = invert(self.T_base_cam) @ T_base_tcp
        out = MarkerArray(markers=[Marker(header=header, ns='grasp', action=Marker.DELETEALL)])
        arrow = Marker(header=header, ns='grasp', id=1, type=Marker.ARROW, action=Marker.ADD)
        start, end = T_cam_tcp[:3, 3] - 0.1 * T_cam_tcp[:3, 2], T_cam_tcp[:3, 3]
        arrow.points = [msgs.point_msg(start), msgs.point_msg(end)]
        arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.005, 0.01, 0.015
        arrow.color.g, arrow.color.a = 1.0, 1.0
        out.markers.append(arrow)
        for k, side in enumerate((1.0, -1.0)):
            finger = T_cam_tcp.copy()
            finger[:3, 3] += side * (opening_m / 2 + 0.004) * T_cam_tcp[:3, 1] - 0.02 * T_cam_tcp[:3, 2]
            mk = Marker(header=header, ns='grasp', id=2 + k, type=Marker.CUBE, action=Marker.ADD,
                        pose=msgs.pose_msg(finger))
            mk.scale.x, mk.scale.y, mk.scale.z = 0.02, 0.008, 0.05
            mk.color.b, mk.color.g, mk.color.a = 1.0, 0.6, 0.8
            out.markers.append(mk)
        self.markers.publish(out)

    def close(self) -> None:
        self.kinematics.close()


def main(args=None) -> int:
    return base.run(GraspPlannerNode, args)
