"""stereo_camera: the stereo camera driver. Reads left/right pairs from a device (OpenCV capture: an index
or a V4L2/GenICam device path), a folder of recorded pairs, or the simulated cell; computes depth with the
same stereo matcher as the simulator; publishes ``camera/color/image_raw`` (rgb8, left),
``camera/depth/image_rect`` (32FC1, metres), ``camera/color/camera_info`` and ``camera/depth/points``,
with one stamp and frame id per frame, on sensor-data QoS.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from std_msgs.msg import Header

from binpick.data.bag import depth_to_rep118
from binpick.geometry import backproject
from binpick.nodes import base, msgs
from binpick.nodes.cell_params import cell_config
from binpick.nodes.flow import StampSync
from binpick.perception.stereo import stereo_depth
from binpick.perception.stereo_source import CaptureSource, FolderSource


class StereoCameraNode(base.BinpickNode):
    def __init__(self, **kwargs) -> None:
        super().__init__('stereo_camera', **kwargs)
        self.cell = cell_config(self)
        self.K = self.cell.camera.K
        self.frame_id = self.param('frame_id', 'camera_color_optical_frame')
        self.point_stride = max(1, int(self.param('points_stride', 4)))
        self.source = self.param('source', 'device')
        self.color = self.create_publisher(msgs.Image, base.COLOR, base.SENSOR_QOS)
        self.depth = self.create_publisher(msgs.Image, base.DEPTH, base.SENSOR_QOS)
        self.info = self.create_publisher(msgs.CameraInfo, base.INFO, base.SENSOR_QOS)
        self.points = self.create_publisher(msgs.PointCloud2, base.POINTS, base.SENSOR_QOS)
        self.worker = self.frame_worker('stereo', self.publish_pair, 'stereo')
        self.published = 0
        if self.source == 'sim':
            sync = StampSync(['left', 'right'], lambda stamp, m: self.worker.submit((m['left'].header.stamp, m)))
            for key, topic in (('left', base.STEREO_LEFT), ('right', base.STEREO_RIGHT)):
                self.create_subscription(msgs.Image, topic, self.guarded(
                    topic, lambda msg, key=key: sync.add(key, msgs.stamp_ns(msg.header), msg)), base.SENSOR_QOS)
            self.reader = None
        elif self.source in ('folder', 'device'):
            self.reader = (FolderSource(Path(self.param('folder', '')), bool(self.param('loop', True)))
                           if self.source == 'folder' else
                           CaptureSource(self.param('left_device', '0'), self.param('right_device', '1')))
            self.create_timer(1.0 / float(self.param('rate_hz', 1.0)), self.guarded('source', self.grab))
        else:
            raise ValueError(f'parameter source: {self.source!r}; expected sim, folder or device')
        self.get_logger().info(f'stereo camera: source {self.source}, {self.cell.camera.width}x'
                               f'{self.cell.camera.height}, baseline {self.cell.baseline_m} m')

    def grab(self) -> None:
        pair = self.reader.read()
        if pair is not None and self.worker.idle():
            self.worker.submit((self.get_clock().now().to_msg(), {'left': pair[0], 'right': pair[1]}))

    def publish_pair(self, item) -> None:
        stamp, pair = item
        topics = {'left': base.STEREO_LEFT, 'right': base.STEREO_RIGHT}
        left, right = (msgs.image_array(pair[k], topics[k]) if isinstance(pair[k], msgs.Image) else pair[k]
                       for k in topics)
        h, w = left.shape[:2]
        if (w, h) != (self.cell.camera.width, self.cell.camera.height) or right.shape != left.shape or left.ndim != 3:
            raise msgs.BadMessage(f'{self.source}: stereo pair {left.shape} / {right.shape} is not the calibrated '
                                  f'{self.cell.camera.width}x{self.cell.camera.height} colour pair')
        depth_m = stereo_depth(left, right, self.K[0, 0], self.cell.baseline_m, self.cell.depth_min_m,
                               self.cell.depth_max_m)
        header = Header(stamp=stamp, frame_id=self.frame_id)
        vs, us = np.nonzero(depth_m[::self.point_stride, ::self.point_stride] > 0)
        pts = backproject(us * self.point_stride, vs * self.point_stride, depth_m, self.K)
        self.info.publish(msgs.camera_info_msg(self.K, w, h, header))
        self.depth.publish(msgs.image_msg(depth_to_rep118(depth_m), '32FC1', header))   # REP 118: NaN = none
        self.points.publish(msgs.points_msg(pts, header))
        self.color.publish(msgs.image_msg(left, 'rgb8', header))
        self.published += 1

    def close(self) -> None:
        self.worker.stop()
        if self.reader is not None:
            self.reader.close()


def main(args=None) -> int:
    return base.run(StereoCameraNode, args)
