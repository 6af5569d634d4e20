"""The pick planner over MoveIt 2 (``moveit_py``), for a ROS 2 install with MoveIt.

Only the free moves (home → pre-grasp, lift → place) change planner: :func:`moveit_free_moves` plans them
with a ``MoveItPy`` planning component for ``panda_arm``, against MoveIt's planning scene, into which
:func:`add_tote` puts the tote's floor and walls. The straight approach and lift, their IK and the
collision checks of every configuration stay those of :class:`~binpick.grasp.motion.BuiltinPlanner`, so
both planners keep the same contract (``test/test_picking.py::test_motion_planner_contract`` runs it on
every planner the install has).

``moveit_py`` is not on the package index: the pip set-up has no MoveIt, and every figure in the README
was planned by the built-in planner. :func:`moveit_available` says whether this install has it.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np

from binpick.geometry import quat_from_matrix
from binpick.grasp.motion import JOINT_NAMES, BuiltinPlanner, Kinematics, PickMotion

GROUP = 'panda_arm'


def moveit_available() -> bool:
    """Whether ``moveit_py`` (the ``moveit`` Python package of MoveIt 2) is installed."""
    return importlib.util.find_spec('moveit') is not None


def moveit_free_moves(moveit, group: str = GROUP) -> Callable[[np.ndarray, np.ndarray], np.ndarray | None]:
    """A joint planner (q_from, q_to) -> joint path (n x 7, radians, columns ``JOINT_NAMES``) or None, planned
    by MoveIt's planning pipeline for ``group`` of a ``moveit.planning.MoveItPy`` instance."""
    from moveit.core.robot_state import RobotState

    component = moveit.get_planning_component(group)
    model = moveit.get_robot_model()

    def state(q: np.ndarray):
        s = RobotState(model)
        s.set_joint_group_positions(group, np.asarray(q, dtype=np.float64))
        s.update()
        return s

    def plan(q_from: np.ndarray, q_to: np.ndarray) -> np.ndarray | None:
        component.set_start_state(robot_state=state(q_from))
        component.set_goal_state(robot_state=state(q_to))
        result = component.plan()
        if not result:
            return None
        trajectory = result.trajectory.get_robot_trajectory_msg().joint_trajectory
        columns = [trajectory.joint_names.index(name) for name in JOINT_NAMES]
        return np.array([[point.positions[c] for c in columns] for point in trajectory.points])

    return plan


def add_tote(moveit, boxes: list[tuple[tuple[float, float, float], np.ndarray]], frame: str = 'panda_link0') -> None:
    """Put the tote's boxes ((half extents, ``T_base_box``), metres, robot base frame) into MoveIt's planning
    scene as one collision object ``tote``."""
    from geometry_msgs.msg import Pose
    from moveit_msgs.msg import CollisionObject
    from shape_msgs.msg import SolidPrimitive

    tote = CollisionObject(id='tote', operation=CollisionObject.ADD)
    tote.header.frame_id = frame
    for half, T in boxes:
        tote.primitives.append(SolidPrimitive(type=SolidPrimitive.BOX, dimensions=[2.0 * h for h in half]))
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in T[:3, 3])
        pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (
            float(v) for v in quat_from_matrix(T[:3, :3]))
        tote.primitive_poses.append(pose)
    with moveit.get_planning_scene_monitor().read_write() as scene:
        scene.apply_collision_object(tote)
        scene.current_state.update()


def moveit_planner(moveit, kinematics: Kinematics, valid: Callable[[np.ndarray], bool], q_place: np.ndarray,
                   tote_boxes: list, motion: PickMotion | None = None) -> BuiltinPlanner:
    """The pick planner with MoveIt's free moves (the tote added to its planning scene). MoveIt checks its own
    robot model against its scene; the planner checks each path with ``valid`` too, as it checks the
    built-in planner's."""
    add_tote(moveit, tote_boxes)
    return BuiltinPlanner(kinematics, valid, q_place, motion, free_moves=moveit_free_moves(moveit))
