"""What every binpick node shares: parameters, guarded callbacks, QoS, and ``main``."""
from __future__ import annotations

import ctypes
import gc
import itertools
import os
import sys
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from binpick.nodes.flow import ABANDONED, LatestWorker, StampSync
from binpick.nodes.msgs import BadMessage, CameraInfo, Image, stamp_ns
from binpick.stopping import stop_on_signals
from binpick_interfaces.msg import InstanceSegmentation, ObjectPoseArray

SENSOR_QOS = qos_profile_sensor_data          # camera streams and per-frame results: latest counts
# model announcements: late joiners get the last one
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)   # what tf2_ros's broadcaster uses

# threads of a node's executor: mostly waiting (on a physics lock, a frame worker, a goal), not computing, so
# more than the cores. With two, a capture and a pick waiting for it left no thread for the parameter services.
EXECUTOR_THREADS = 6

# topic names, relative so a namespace moves the whole cell
COLOR, DEPTH, INFO, POINTS = 'camera/color/image_raw', 'camera/depth/image_rect', 'camera/color/camera_info', \
    'camera/depth/points'
STEREO_LEFT, STEREO_RIGHT = 'sim/stereo/left/image_raw', 'sim/stereo/right/image_raw'
STEREO_INFO = 'sim/stereo/left/camera_info'
GROUND_TRUTH, REMOVE_INSTANCE = 'sim/ground_truth', 'sim/remove_instance'
INSTANCES, POSES, MARKERS = 'binpick/instances', 'binpick/poses', 'binpick/pose_markers'
DETECTIONS = 'binpick/detections'
BANK_STATS, MODEL_UPDATES, SELF_TRAIN = 'binpick/bank_statistics', 'binpick/model_updates', 'binpick/self_train'
PICK, GRASP_MARKERS = 'binpick/pick', 'binpick/grasp_markers'
# the robot under ros2_control: default action names (set arm_action and gripper_action to your controllers')
ARM_ACTION, GRIPPER_ACTION = 'panda_arm_controller/follow_joint_trajectory', 'panda_gripper/gripper_action'
JOINT_STATES = 'joint_states'
# the per-frame streams a node can pair by stamp: key -> (topic, message type)
FRAME_TOPICS = {'color': (COLOR, Image), 'depth': (DEPTH, Image), 'info': (INFO, CameraInfo),
                'instances': (INSTANCES, InstanceSegmentation), 'poses': (POSES, ObjectPoseArray)}


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL('libc.so.6').malloc_trim
    except (OSError, AttributeError):     # not glibc: nothing to trim
        return None


MALLOC_TRIM = _malloc_trim()


def trim_heap() -> None:
    """Give the heap pages this process freed back to the system. glibc keeps freed memory for reuse: a
    segmentation frame leaves about 270 MB freed but resident. The call takes 10-40 ms; the next frame then
    faults the pages back in (about 13 % of the cell's latency when done after every frame)."""
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


def every_nth(fn: Callable[[], None], n: int) -> Callable[[], None]:
    """A function that calls ``fn`` on its n-th, 2n-th, ... call and does nothing on the others."""
    calls = itertools.count(1)

    def call() -> None:
        if next(calls) % n == 0:
            fn()
    return call


def release_freed_memory() -> None:
    """Collect garbage cycles, then :func:`trim_heap`. With images, tensors and messages of many sizes freed by
    several threads, a node's resident size crept up by about 100 MB in 30 minutes without this (soak of
    2026-12-03)."""
    gc.collect()
    trim_heap()


class BinpickNode(Node):
    """A node whose callbacks never take it down: a bad message is logged with its topic and counted."""

    def __init__(self, name: str, **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.rejected: Counter[str] = Counter()      # topic -> bad messages
        self.last_error: dict[str, str] = {}
        threads = int(self.param('threads', 0))
        if threads > 0:
            import torch
            torch.set_num_threads(threads)
        trim_s = float(self.param('trim_memory_s', 30.0))
        if trim_s > 0:
            self.create_timer(trim_s, release_freed_memory)
        self._trim_every_frames = int(self.param('trim_every_frames', 1))
        # lower CPU priority for the frame worker only: the threads that take messages and stop the node keep
        # theirs, so a niced node still stops within the grace period on a saturated machine
        self._worker_nice = int(self.param('nice', 0))

    def param(self, name: str, default: Any) -> Any:
        if not self.has_parameter(name):
            self.declare_parameter(name, default)
        return self.get_parameter(name).value

    def frame_worker(self, topic: str, fn: Callable[[Any], None], name: str) -> LatestWorker:
        """A :class:`LatestWorker` running ``fn`` guarded for ``topic`` at the node's ``nice``; the heap the
        frames freed goes back to the system after every ``trim_every_frames``-th frame (1, the default: each;
        0: never)."""
        every = self._trim_every_frames
        trim = every_nth(trim_heap, every) if every > 0 else None
        return LatestWorker(self.guarded(topic, fn), name, after_each=trim, nice=self._worker_nice)

    def guarded(self, topic: str, fn: Callable[..., None]) -> Callable[..., None]:
        """``fn`` with its failures logged under ``topic`` instead of raised."""
        def call(*args):
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - a node keeps running; the log says why
                if not self.context.ok():      # shutting down: publishers are gone, nothing to report
                    return
                if isinstance(e, BadMessage):
                    self.reject(topic, str(e))
                else:   # not the input's fault: counted like a bad message, logged with its traceback
                    self.reject(topic, f'{topic}: {type(e).__name__}: {e}')
                    self.get_logger().error(traceback.format_exc())
        return call

    def subscribe_frame(self, keys: list[str], on_frame: Callable[[dict], None]) -> None:
        """Subscribe to one frame's topics (keys of ``FRAME_TOPICS``), pair them by stamp, and call
        ``on_frame({key: message})`` for each complete frame."""
        sync = StampSync(keys, lambda stamp, m: on_frame(m))
        for key in keys:
            topic, kind = FRAME_TOPICS[key]
            self.create_subscription(kind, topic, lambda msg, key=key: sync.add(key, stamp_ns(msg.header), msg),
                                     SENSOR_QOS)

    def reject(self, topic: str, reason: str) -> None:
        self.rejected[topic] += 1
        self.last_error[topic] = reason
        what = f'a message on {self.resolve_topic_name(topic)}' if '/' in topic else f'a {topic}'  # or a frame
        self.get_logger().warning(f'dropped {what}: {reason}')


def run(make_node: Callable[[], Node], args: list[str] | None = None) -> int:
    """Create the node, spin it until SIGINT / SIGTERM / shutdown, clean up; returns the exit code.

    A signal shuts rclpy down (its handler wakes the executor) and never interrupts the cleanup; this
    holds also when the node was started with SIGINT ignored (a background job)."""
    stop_on_signals()   # before rclpy.init: rclpy's handler chains to this one
    rclpy.init(args=sys.argv if args is None else args)
    node = None
    try:
        node = make_node()
        executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as e:  # noqa: BLE001 - a node that cannot start says why and exits non-zero
        if rclpy.ok():
            print(f'{os.path.basename(sys.argv[0])}: {type(e).__name__}: {e}', file=sys.stderr)
            return 1
        # a signal shut rclpy down while the executor was waiting (RCLError: the context is not valid):
        # a stop, not a failure
    finally:
        if node is not None:
            close = getattr(node, 'close', None)
            if close is not None:
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    _exit_past_unfinished_work()
    return 0


def _exit_past_unfinished_work() -> None:
    """Exit now (code 0) when a worker is still inside a frame that ``close`` gave up waiting for.

    Interpreter shutdown would tear down torch/Open3D under that thread and abort the process; what the
    frame would have written is written atomically, so leaving it unfinished loses nothing stored."""
    if ABANDONED:
        print(f'binpick: left the unfinished frame of worker(s) {", ".join(ABANDONED)} to stop in time',
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(0)
