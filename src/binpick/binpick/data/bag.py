"""Camera frames in rosbag2 bags (MCAP storage, ROS 2 Jazzy message definitions), with ``rosbags``:
no ROS install needed, and ``ros2 bag info`` / ``ros2 bag play`` on a ROS install read the result.

Topics (under a namespace, default ``/camera``): ``color/image_raw`` (rgb8), ``depth/image_rect``
(32FC1, metres), ``color/camera_info``. Reading pairs messages by header stamp into frames.

Depth follows REP 118: float depth marks a pixel without a measurement with NaN (±Inf: out of range),
16-bit depth (16UC1, millimetres) with 0. Inside binpick a missing measurement is 0.0 metres;
:func:`depth_to_rep118` and :func:`depth_from_rep118` convert at the boundary.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binpick.data.errors import DataFormatError

TOPICS = {'color': 'color/image_raw', 'depth': 'depth/image_rect', 'info': 'color/camera_info'}
TYPES = {'color': 'sensor_msgs/msg/Image', 'depth': 'sensor_msgs/msg/Image', 'info': 'sensor_msgs/msg/CameraInfo'}


def depth_to_rep118(depth_m: np.ndarray) -> np.ndarray:
    """binpick depth (float metres, 0 = none) as REP 118 32FC1: float32 metres, NaN = none."""
    out = np.asarray(depth_m, dtype=np.float32).copy()
    out[~(out > 0)] = np.nan
    return out


def depth_from_rep118(depth_m: np.ndarray) -> np.ndarray:
    """REP 118 depth in metres (NaN or ±Inf = none, or 0 for 16-bit depth) as binpick depth (0 = none)."""
    out = np.asarray(depth_m, dtype=np.float32).copy()
    out[~np.isfinite(out) | (out < 0)] = 0.0
    return out


def _typestore():
    from rosbags.typesys import Stores, get_typestore
    return get_typestore(Stores.ROS2_JAZZY)


@dataclass
class CameraFrame:
    """One RGB-D frame: ``rgb`` HxWx3 uint8, ``depth_m`` HxW float32 metres (0 = none), ``K`` 3x3."""

    stamp_ns: int
    rgb: np.ndarray
    depth_m: np.ndarray
    K: np.ndarray
    frame_id: str = 'camera_color_optical_frame'


def _topic(namespace: str, key: str) -> str:
    return f'{namespace.rstrip("/")}/{TOPICS[key]}'


COLOR_ENCODINGS, DEPTH_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8'), ('32FC1', '16UC1')


class BagWriter:
    """Writes CameraFrames to a new bag folder; use as a context manager (the bag is complete on exit).
    By default binpick's own layout (``TOPICS`` under ``namespace``, rgb8 and 32FC1); ``topics`` (key ->
    full topic name) and the encodings write another driver's layout (RealSense: 16UC1 mm depth, Zivid: rgba8
    colour), as the ones of ``config/cameras.yaml``."""

    def __init__(self, path: str | Path, namespace: str = '/camera', topics: dict[str, str] | None = None,
                 color_encoding: str = 'rgb8', depth_encoding: str = '32FC1') -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        self.path, self.namespace, self.ts = Path(path), namespace, _typestore()
        if self.path.exists():
            raise FileExistsError(f'{self.path}: exists; a bag is never overwritten')
        if color_encoding not in COLOR_ENCODINGS or depth_encoding not in DEPTH_ENCODINGS:
            raise ValueError(f'{self.path}: encodings {color_encoding!r}, {depth_encoding!r}; expected one of '
                             f'{COLOR_ENCODINGS} and {DEPTH_ENCODINGS}')
        self.topics = topics or {key: _topic(namespace, key) for key in TOPICS}
        self.color_encoding, self.depth_encoding = color_encoding, depth_encoding
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._conn = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        for key, msgtype in TYPES.items():
            self._conn[key] = self._writer.add_connection(self.topics[key], msgtype, typestore=self.ts)
        return self

    def __exit__(self, *exc) -> None:
        self._writer.close()

    def write(self, frame: CameraFrame) -> None:
        T = self.ts.types
        sec, nsec = divmod(int(frame.stamp_ns), 1_000_000_000)
        header = T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=sec, nanosec=nsec),
                                          frame_id=frame.frame_id)
        h, w = frame.depth_m.shape
        pixels = _color_pixels(frame.rgb, self.color_encoding)
        color = T['sensor_msgs/msg/Image'](header=header, height=h, width=w, encoding=self.color_encoding,
                                           is_bigendian=0, step=w * pixels.shape[2], data=pixels.reshape(-1))
        if self.depth_encoding == '32FC1':
            depth_bytes = np.ascontiguousarray(depth_to_rep118(frame.depth_m), dtype='<f4')
        else:   # 16UC1: millimetres, 0 = none (REP 118)
            depth_bytes = np.clip(np.round(frame.depth_m * 1000.0), 0, 65535).astype('<u2')
        depth = T['sensor_msgs/msg/Image'](header=header, height=h, width=w, encoding=self.depth_encoding,
                                           is_bigendian=0, step=w * depth_bytes.itemsize,
                                           data=depth_bytes.view(np.uint8).reshape(-1))
        K = np.asarray(frame.K, dtype=np.float64)
        P = np.zeros((3, 4))
        P[:, :3] = K
        info = T['sensor_msgs/msg/CameraInfo'](
            header=header, height=h, width=w, distortion_model='plumb_bob', d=np.zeros(5), k=K.reshape(-1),
            r=np.eye(3).reshape(-1), p=P.reshape(-1), binning_x=0, binning_y=0,
            roi=T['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
        for key, msg in (('info', info), ('color', color), ('depth', depth)):
            self._writer.write(self._conn[key], int(frame.stamp_ns), self.ts.serialize_cdr(msg, TYPES[key]))


def _color_pixels(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """HxWx3 RGB as the bytes of ``encoding`` (alpha 255)."""
    px = np.asarray(rgb, dtype=np.uint8)[..., ::-1] if encoding.startswith('bgr') else np.asarray(rgb, np.uint8)
    if encoding.endswith('a8'):
        px = np.concatenate([px, np.full(px.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return np.ascontiguousarray(px)


def image_to_array(msg, where: str) -> np.ndarray:
    """A sensor_msgs/Image as an array: rgb8/bgr8/rgba8/bgra8 -> HxWx3 uint8 RGB (alpha dropped), 32FC1 ->
    HxW float32, 16UC1 (mm) -> float32 metres. Raises ValueError naming ``where`` for an unknown encoding or a
    size mismatch."""
    channels = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, '32FC1': 4, '16UC1': 2}
    if msg.encoding not in channels:
        raise ValueError(f'{where}: unsupported encoding {msg.encoding!r} ({", ".join(channels)})')
    row = msg.width * channels[msg.encoding]
    data = np.asarray(msg.data, dtype=np.uint8)
    if msg.step < row or len(data) != msg.step * msg.height:
        raise ValueError(f'{where}: {len(data)} bytes do not make a {msg.width}x{msg.height} {msg.encoding} '
                         f'image with step {msg.step}')
    rows = data.reshape(msg.height, msg.step)[:, :row]
    if msg.encoding in ('rgb8', 'bgr8', 'rgba8', 'bgra8'):
        img = rows.reshape(msg.height, msg.width, channels[msg.encoding])[..., :3]
        return np.ascontiguousarray(img[..., ::-1] if msg.encoding.startswith('bgr') else img)
    order = '>' if msg.is_bigendian else '<'
    if msg.encoding == '32FC1':
        return np.ascontiguousarray(rows).view(f'{order}f4').reshape(msg.height, msg.width).astype(np.float32)
    return np.ascontiguousarray(rows).view(f'{order}u2').reshape(msg.height, msg.width).astype(np.float32) / 1000.0


def read_frames(path: str | Path, namespace: str = '/camera') -> Iterator[CameraFrame]:
    """CameraFrames of a bag, in time order: colour, depth and camera info paired by header stamp.
    Messages that cannot be decoded raise DataFormatError naming the bag and topic."""
    from rosbags.rosbag2 import Reader
    path = Path(path)
    if not path.exists():
        raise DataFormatError(path, '', 'bag does not exist')
    ts = _typestore()
    topics = {_topic(namespace, k): k for k in TOPICS}
    pending: dict[int, dict] = {}
    with Reader(path) as reader:
        conns = [c for c in reader.connections if c.topic in topics]
        missing = set(topics) - {c.topic for c in conns}
        if missing:
            raise DataFormatError(path, ', '.join(sorted(missing)), 'topic not in the bag')
        for conn, _, raw in reader.messages(connections=conns):
            key = topics[conn.topic]
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            try:
                value = (np.asarray(msg.k, dtype=np.float64).reshape(3, 3) if key == 'info'
                         else image_to_array(msg, f'{path}: {conn.topic}'))
            except ValueError as e:
                raise DataFormatError(path, conn.topic, str(e)) from None
            entry = pending.setdefault(stamp, {'frame_id': msg.header.frame_id})
            entry[key] = depth_from_rep118(value) if key == 'depth' else value
            if len(entry) == 4:
                del pending[stamp]
                yield CameraFrame(stamp, entry['color'], entry['depth'], entry['info'], entry['frame_id'])
