"""The estimated poses in the messages the rest of a ROS 2 cell reads: ``vision_msgs/Detection3DArray`` (what
ROS 2 pose estimators publish, e.g. isaac_ros_foundationpose) and one TF frame per part on ``/tf``, and the
hand-eye calibration as a static transform for ``/tf_static``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import PoseWithCovariance, Transform, TransformStamped, Vector3
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import BoundingBox3D, Detection3D, Detection3DArray, ObjectHypothesis, ObjectHypothesisWithPose

from binpick.geometry import quat_from_matrix
from binpick.nodes import msgs

TF, TF_STATIC = '/tf', '/tf_static'   # absolute: TF is one tree per ROS domain, whatever the cell's namespace


@dataclass
class Estimate:
    """One part found in a frame: ``T_cam_obj`` (4x4, metres, in the frame of the image header)."""

    instance_id: int
    T_cam_obj: np.ndarray
    confidence: float


def frame_name(prefix: str, object_id: str, instance_id: int) -> str:
    """The TF child frame of one part: ``<prefix><object_id>_<instance_id>`` (instance ids are per frame)."""
    return f'{prefix}{object_id}_{instance_id}'


def detections_msg(header: Header, object_id: str, estimates: list[Estimate], box_min_m: np.ndarray,
                   box_size_m: np.ndarray) -> Detection3DArray:
    """A Detection3DArray: per part its class (``object_id``), score (the pose confidence), the pose of the
    model's origin and its bounding box (centre and size in the model frame, from models_info, metres)."""
    centre_obj = np.eye(4)
    centre_obj[:3, 3] = np.asarray(box_min_m) + np.asarray(box_size_m) / 2
    size = Vector3(x=float(box_size_m[0]), y=float(box_size_m[1]), z=float(box_size_m[2]))
    out = Detection3DArray(header=header)
    for e in estimates:
        hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=object_id, score=e.confidence),
                                              pose=PoseWithCovariance(pose=msgs.pose_msg(e.T_cam_obj)))
        out.detections.append(Detection3D(header=header, id=str(e.instance_id), results=[hypothesis],
                                          bbox=BoundingBox3D(center=msgs.pose_msg(e.T_cam_obj @ centre_obj),
                                                             size=size)))
    return out


def transform_msg(T: np.ndarray) -> Transform:
    q = quat_from_matrix(T[:3, :3])
    t = T[:3, 3]
    out = Transform()
    out.translation.x, out.translation.y, out.translation.z = (float(v) for v in t)
    out.rotation.x, out.rotation.y, out.rotation.z, out.rotation.w = (float(v) for v in q)
    return out


def tf_msg(header: Header, object_id: str, estimates: list[Estimate], prefix: str = '') -> TFMessage:
    """One transform per part, parent the image's frame, child :func:`frame_name`."""
    return TFMessage(transforms=[TransformStamped(header=header, child_frame_id=frame_name(prefix, object_id,
                                                                                           e.instance_id),
                                                  transform=transform_msg(e.T_cam_obj)) for e in estimates])


def static_tf_msg(parent: str, child: str, T_parent_child: np.ndarray) -> TFMessage:
    """A latched transform for /tf_static (stamp 0: valid at all times, as static_transform_publisher does)."""
    return TFMessage(transforms=[TransformStamped(header=Header(frame_id=parent), child_frame_id=child,
                                                  transform=transform_msg(T_parent_child))])
