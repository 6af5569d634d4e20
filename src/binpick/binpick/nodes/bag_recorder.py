"""The node behind ``binpick record``: writes the camera topics (colour, depth, camera info, paired by stamp)
to a new rosbag2 MCAP bag with ``rosbags``; ``ros2 bag info`` on a ROS install reads it."""
from __future__ import annotations

import threading
from pathlib import Path

from binpick.data.bag import BagWriter, CameraFrame
from binpick.nodes import base, msgs


class BagRecorderNode(base.BinpickNode):
    def __init__(self, out: Path, **kwargs) -> None:
        super().__init__('bag_recorder', **kwargs)
        self.writer = BagWriter(out, namespace=self.resolve_topic_name('camera'))
        self.writer.__enter__()
        self.frames = 0
        self._lock = threading.Lock()          # callbacks run on several threads; the bag has one writer
        self.subscribe_frame(['color', 'depth', 'info'], self.guarded('frame', self.write))

    def write(self, m: dict) -> None:
        stamp_ns = msgs.stamp_ns(m['color'].header)
        rgb = msgs.image_array(m['color'], base.COLOR)
        depth_m = msgs.image_array(m['depth'], base.DEPTH)
        K = msgs.camera_matrix(m['info'], base.INFO, rgb.shape[:2])
        with self._lock:
            if self.writer is not None:
                self.writer.write(CameraFrame(stamp_ns, rgb, depth_m, K, m['color'].header.frame_id))
                self.frames += 1

    def close(self) -> None:
        with self._lock:
            if self.writer is not None:
                self.writer.__exit__(None, None, None)
                self.writer = None


def record(out: Path, duration_s: float | None, namespace: str = '', on_start=print) -> int:
    """Record the camera topics to the new bag ``out`` for ``duration_s`` seconds (None: until Ctrl-C);
    returns the frames written. The bag is complete on return, also after SIGINT or SIGTERM."""
    import time

    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from binpick.stopping import stop_on_signals
    stop = stop_on_signals()   # before rclpy.init: rclpy's handler chains to this one
    rclpy.init()
    node = BagRecorderNode(out, namespace=namespace)
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    end = time.monotonic() + duration_s if duration_s else float('inf')
    on_start(f'recording {node.resolve_topic_name("camera")}/{{color/image_raw, depth/image_rect, '
             f'color/camera_info}} to {out}' + (f' for {duration_s} s' if duration_s else '; Ctrl-C stops'))
    try:
        while time.monotonic() < end and rclpy.ok() and not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    finally:
        executor.shutdown()
        node.close()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return node.frames
