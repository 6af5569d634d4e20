"""A client of a running cell (what ``binpick demo`` and the benchmarks use): pairs the pose node's output
with the simulated cell's ground truth, follows the bank statistics and model updates, and calls the
self-training service and action."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

from rclpy.action import ActionClient
from rclpy.node import Node

from binpick.nodes import base, msgs
from binpick_interfaces.action import SelfTrain
from binpick_interfaces.msg import BankStatistics, ModelUpdate, ObjectPoseArray
from binpick_interfaces.srv import TriggerSelfTrain


class CellProbe(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__('cell_probe', **kwargs)
        self.truth: OrderedDict[int, ObjectPoseArray] = OrderedDict()
        self.frames: list[tuple[ObjectPoseArray, ObjectPoseArray, float]] = []   # (poses, truth, received)
        self.stats: BankStatistics | None = None
        self.updates: list[ModelUpdate] = []
        self._lock = threading.Lock()
        self.create_subscription(ObjectPoseArray, base.GROUND_TRUTH, self._on_truth, base.RELIABLE_QOS)
        self.create_subscription(ObjectPoseArray, base.POSES, self._on_poses, base.SENSOR_QOS)
        self.create_subscription(BankStatistics, base.BANK_STATS, lambda m: setattr(self, 'stats', m),
                                 base.RELIABLE_QOS)
        self.create_subscription(ModelUpdate, base.MODEL_UPDATES, self.updates.append, base.LATCHED_QOS)
        self.trigger = self.create_client(TriggerSelfTrain, base.SELF_TRAIN)
        self.action = ActionClient(self, SelfTrain, base.SELF_TRAIN)

    def _on_truth(self, msg: ObjectPoseArray) -> None:
        with self._lock:
            self.truth[msgs.stamp_ns(msg.header)] = msg
            while len(self.truth) > 200:
                self.truth.popitem(last=False)

    def _on_poses(self, msg: ObjectPoseArray) -> None:
        with self._lock:
            truth = self.truth.get(msgs.stamp_ns(msg.header))
            if truth is not None:
                self.frames.append((msg, truth, time.monotonic()))

    def serving(self) -> str:
        """Model version of the last pose message ('' before any)."""
        with self._lock:
            return self.frames[-1][0].model_version if self.frames else ''
