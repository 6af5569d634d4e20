"""Conversions between ROS 2 messages and the arrays the library uses. A message that cannot be
converted raises :class:`BadMessage` naming the topic and the field; nodes log it and carry on."""
from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, Pose, Quaternion
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from binpick.data.bag import depth_from_rep118, image_to_array
from binpick.errors import BinpickError
from binpick.geometry import matrix_from_quat, quat_from_matrix


class BadMessage(BinpickError):
    """A message a node cannot use (wrong encoding, size mismatch, missing fields, bad values)."""


def stamp_ns(header: Header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def time_msg(ns: int) -> Time:
    sec, nsec = divmod(int(ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nsec)


def duration_msg(seconds: float) -> Duration:
    sec, nsec = divmod(int(round(seconds * 1e9)), 1_000_000_000)
    return Duration(sec=sec, nanosec=nsec)


def point_msg(p: np.ndarray) -> Point:
    return Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))


def image_msg(img: np.ndarray, encoding: str, header: Header) -> Image:
    """An Image of ``img``: rgb8 (HxWx3 uint8), 32FC1 (HxW float32), mono16 (HxW uint16)."""
    dtype = {'rgb8': np.uint8, '32FC1': np.float32, 'mono16': np.uint16, 'mono8': np.uint8}[encoding]
    data = np.ascontiguousarray(img, dtype=np.dtype(dtype).newbyteorder('<'))
    msg = Image(header=header, height=data.shape[0], width=data.shape[1], encoding=encoding, is_bigendian=0,
                step=data.shape[1] * data.itemsize * (data.shape[2] if data.ndim == 3 else 1))
    msg.data = array.array('B', data.tobytes())
    return msg


def image_array(msg: Image, topic: str) -> np.ndarray:
    """rgb8/bgr8 -> HxWx3 uint8 RGB; 32FC1 -> float32 metres; 16UC1 -> float32 metres; mono16 -> uint16."""
    try:
        if msg.encoding == 'mono16':
            if len(msg.data) != msg.step * msg.height or msg.step < 2 * msg.width:
                raise ValueError(f'{len(msg.data)} bytes do not make a {msg.width}x{msg.height} mono16 image')
            rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)[:, :2 * msg.width]
            return np.ascontiguousarray(rows).view('>u2' if msg.is_bigendian else '<u2').astype(np.uint16)
        return image_to_array(msg, topic)
    except ValueError as e:
        raise BadMessage(f'{topic}: {e}' if not str(e).startswith(topic) else str(e)) from None


def depth_array(msg: Image, topic: str) -> np.ndarray:
    """A depth image in metres, 0 = no measurement (REP 118's NaN and ±Inf in 32FC1, 0 in 16UC1;
    negative values are treated as missing too)."""
    if msg.encoding not in ('32FC1', '16UC1'):
        raise BadMessage(f'{topic}: depth encoding {msg.encoding!r}; expected 32FC1 (metres) or 16UC1 (mm)')
    depth = image_array(msg, topic)
    if not np.isfinite(depth).any():
        raise BadMessage(f'{topic}: no finite depth value in the image')
    return depth_from_rep118(depth)


def camera_info_msg(K: np.ndarray, width: int, height: int, header: Header, baseline_m: float = 0.0) -> CameraInfo:
    """Rectified camera info; ``baseline_m`` > 0 makes it the right camera's (P[0,3] = -fx * baseline)."""
    P = np.zeros((3, 4))
    P[:, :3] = K
    P[0, 3] = -K[0, 0] * baseline_m
    return CameraInfo(header=header, width=width, height=height, distortion_model='plumb_bob', d=[0.0] * 5,
                      k=np.asarray(K, dtype=np.float64).reshape(-1).tolist(), r=np.eye(3).reshape(-1).tolist(),
                      p=P.reshape(-1).tolist())


def camera_matrix(msg: CameraInfo, topic: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """K (3x3) of a CameraInfo; refuses an empty K or a size other than the image's ``shape`` (H, W)."""
    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0 or K[2, 2] != 1:
        raise BadMessage(f'{topic}: field k is not a camera matrix: {K.reshape(-1).tolist()}')
    if shape is not None and (msg.height, msg.width) != tuple(shape):
        raise BadMessage(f'{topic}: camera info is {msg.width}x{msg.height}, the image {shape[1]}x{shape[0]}')
    return K


def points_msg(pts_m: np.ndarray, header: Header) -> PointCloud2:
    """An unorganised xyz float32 PointCloud2 of Nx3 points in the header frame (metres)."""
    pts = np.ascontiguousarray(pts_m, dtype='<f4').reshape(-1, 3)
    fields = [PointField(name=n, offset=4 * k, datatype=PointField.FLOAT32, count=1) for k, n in enumerate('xyz')]
    msg = PointCloud2(header=header, height=1, width=len(pts), fields=fields, is_bigendian=False, point_step=12,
                      row_step=12 * len(pts), is_dense=True)
    msg.data = array.array('B', pts.tobytes())
    return msg


def pose_msg(T: np.ndarray) -> Pose:
    q = quat_from_matrix(T[:3, :3])
    return Pose(position=point_msg(T[:3, 3]),
                orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))


def pose_matrix(pose: Pose) -> np.ndarray:
    T = np.eye(4)
    q = pose.orientation
    T[:3, :3] = matrix_from_quat(np.array([q.x, q.y, q.z, q.w]))
    T[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
    return T


def label_image(masks: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """uint16 label image: 0 background, k+1 the pixels of masks[k] (later masks win overlaps)."""
    labels = np.zeros(shape, dtype=np.uint16)
    for k, m in enumerate(masks):
        labels[m.astype(bool)] = k + 1
    return labels
