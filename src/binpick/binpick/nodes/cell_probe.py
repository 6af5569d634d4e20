"""A client of a running cell (what ``binpick demo`` uses): pairs the pose node's output with the simulated
cell's ground truth, follows the bank statistics and model updates, and calls the self-training service
and action, and asks the grasp planner for picks. ``CellClient`` owns the ROS side, so its users see plain
Python values."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import rclpy
from rclpy.action import ActionClient
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient

from binpick.errors import BinpickError, WaitTimeout
from binpick.nodes import base, msgs
from binpick_interfaces.action import Pick, SelfTrain
from binpick_interfaces.msg import BankStatistics, ModelUpdate, ObjectPoseArray
from binpick_interfaces.srv import TriggerSelfTrain

# how long a request that must not be sent twice (a goal, a job trigger) may wait for its reply on a busy machine
GOAL_REPLY_S = 120.0


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
        self.pick = ActionClient(self, Pick, base.PICK)

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

    def pose_pairs(self) -> list[tuple[str, list[np.ndarray], list[np.ndarray]]]:
        """(model version, estimated T_cam_obj, true T_cam_obj) of every frame received with its ground truth."""
        with self._lock:
            frames = list(self.frames)
        return [(poses.model_version, [msgs.pose_matrix(p.pose) for p in poses.poses],
                 [msgs.pose_matrix(p.pose) for p in truth.poses]) for poses, truth, _ in frames]


@dataclass
class JobOutcome:
    success: bool
    message: str
    model_version: int
    metrics: dict


# wait(predicate, timeout_s, what): the caller's way of waiting (it may also watch the node processes); raises
# WaitTimeout when the time is up
Wait = Callable[[Callable[[], bool], float, str], None]


@dataclass
class PickResult:
    """What the grasp planner's action returned."""

    success: bool
    failure_reason: str
    instance_id: int
    planning_time_s: float


class CellClient:
    """rclpy, a CellProbe in ``namespace`` and an executor thread spinning it; use as a context manager."""

    def __init__(self, namespace: str) -> None:
        rclpy.init()
        self.probe = CellProbe(namespace=namespace)
        self._executor = MultiThreadedExecutor(num_threads=2)
        self._executor.add_node(self.probe)
        self._spinner = threading.Thread(target=self._executor.spin, daemon=True)
        self._spinner.start()
        self._parameter_clients: dict[str, AsyncParameterClient] = {}

    def __enter__(self) -> CellClient:
        return self

    def __exit__(self, *exc) -> None:
        self.probe.action.destroy()
        self.probe.pick.destroy()
        self._executor.shutdown()
        self._spinner.join(timeout=5)
        self.probe.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()

    def retrainer_ready(self) -> bool:
        return self.probe.trigger.service_is_ready() and self.probe.action.server_is_ready()

    def trigger(self, iterations: int, wait: Wait, max_frames: int = 0) -> str:
        """Start a self-training job through the service (on the newest ``max_frames`` banked frames; 0: all);
        returns its description, raises when refused."""
        reply = self.probe.trigger.call_async(TriggerSelfTrain.Request(iterations=iterations, max_frames=max_frames))
        wait(reply.done, GOAL_REPLY_S, f'calling {base.SELF_TRAIN}')   # not idempotent: it starts a job
        if not reply.result().accepted:
            raise BinpickError(f'self-training refused: {reply.result().reason}')
        return reply.result().reason

    def follow_job(self, on_feedback: Callable[[str, str, int, int, float], None], wait: Wait) -> JobOutcome:
        """Follow the running job through the action: on_feedback(job_id, stage, iteration, iterations,
        progress 0..1) as it goes; returns its result."""
        def feedback(f) -> None:
            fb = f.feedback
            on_feedback(fb.job_id, fb.stage, fb.iteration, fb.iterations, float(fb.progress))
        goal = self.probe.action.send_goal_async(SelfTrain.Goal(), feedback_callback=feedback)
        wait(goal.done, GOAL_REPLY_S, 'sending the SelfTrain goal')
        result_future = goal.result().get_result_async()
        wait(result_future.done, 3600, 'self-training')
        r = result_future.result().result
        return JobOutcome(r.success, r.message, r.model_version, dict(zip(r.metric_names, r.metric_values)))

    def set_parameter(self, node: str, name: str, value, wait: Wait, attempts: int = 3,
                      reply_timeout_s: float = 30.0) -> None:
        """Set parameter ``name`` of the running node ``node`` (a name relative to the probe's namespace);
        raises with the node's reason when it refuses. Setting a value is idempotent, so a request whose
        reply does not come within ``reply_timeout_s`` is sent again, up to ``attempts`` times."""
        if node not in self._parameter_clients:
            self._parameter_clients[node] = AsyncParameterClient(self.probe, node)
        client = self._parameter_clients[node]
        wait(client.services_are_ready, 30, f'waiting for the parameter services of {node}')
        for attempt in range(1, attempts + 1):
            reply = client.set_parameters([Parameter(name, value=value)])
            try:
                wait(reply.done, reply_timeout_s, f'setting {node} {name} (attempt {attempt} of {attempts})')
                break
            except WaitTimeout:
                reply.cancel()
                if attempt == attempts:
                    raise
        outcome = reply.result().results[0]
        if not outcome.successful:
            raise BinpickError(f'{node} refused {name} = {value!r}: {outcome.reason}')

    def pick(self, wait: Wait) -> PickResult:
        """One pick through the grasp planner's action; returns its result."""
        wait(lambda: self.probe.pick.server_is_ready(), 60, f'waiting for {base.PICK}')
        goal = self.probe.pick.send_goal_async(Pick.Goal())
        wait(goal.done, GOAL_REPLY_S, 'sending the Pick goal')   # never sent twice: a second pick would run
        result_future = goal.result().get_result_async()
        wait(result_future.done, 300, 'picking')
        r = result_future.result().result
        return PickResult(r.success, r.failure_reason, r.instance_id, r.planning_time_s)
