"""retrainer: self-training jobs over the pseudo-label bank, on request.

``binpick/self_train`` (service, TriggerSelfTrain) starts a job and returns at once with its id; a second
request while one runs is refused. The ``binpick/self_train`` action (SelfTrain) starts a job, or follows
the running one: feedback per stage, cancel, and the result. A job that produces a model not worse than
the one in service publishes it as a new version and announces it on ``binpick/model_updates``; a crash
or a cancel leaves the model in service unchanged. Each job runs in a child process
(``selftrain/job_process.py``), so the node returns to its idle size when the job ends.
"""
from __future__ import annotations

import threading
import traceback
import uuid
from dataclasses import replace
from pathlib import Path

from rclpy.action import ActionServer, CancelResponse, GoalResponse

from binpick.catalog import Catalog
from binpick.nodes import base
from binpick.selftrain.job_process import JobSpec, run_job_in_child
from binpick.selftrain.online import JobConfig, JobProgress, JobResult
from binpick_interfaces.action import SelfTrain
from binpick_interfaces.msg import ModelUpdate
from binpick_interfaces.srv import TriggerSelfTrain


class Job:
    def __init__(self, job_id: str, config: JobConfig) -> None:
        self.id, self.config = job_id, config
        self.progress = JobProgress(job_id, iterations=config.iterations)
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.result: JobResult | None = None


class RetrainerNode(base.BinpickNode):
    def __init__(self, **kwargs) -> None:
        super().__init__('retrainer', **kwargs)
        self.catalog = Catalog()
        self.object_id = self.param('object_id', 'zigzag_bracket')
        self.bank_dir, model_dir = Path(self.param('bank_dir', '')), Path(self.param('model_dir', ''))
        if not str(self.bank_dir) or not str(model_dir):
            raise ValueError('parameters bank_dir and model_dir must be set')
        initial = self.param('pose_checkpoint', '') or None
        self.spec = JobSpec(self.bank_dir, self.object_id, model_dir, None if initial is None else Path(initial),
                            tuple(self.catalog.roots), self.param('perceptual', 'auto'),
                            self.param('geometry', 'visible'), int(self.param('crop_px', 64)),
                            int(self.param('threads', 0)))
        self.registry = self.spec.registry()
        self.defaults = JobConfig(iterations=int(self.param('iterations', 1)),
                                  student_epochs=int(self.param('student_epochs', 2)),
                                  student_lr=float(self.param('student_lr', 1e-4)),
                                  batch_size=int(self.param('batch_size', 16)),
                                  holdout_every=int(self.param('holdout_every', 5)),
                                  min_gain=float(self.param('min_gain', 0.0)))
        self.job: Job | None = None
        self._lock = threading.Lock()
        self.updates = self.create_publisher(ModelUpdate, base.MODEL_UPDATES, base.LATCHED_QOS)
        self.create_service(TriggerSelfTrain, base.SELF_TRAIN, self.on_trigger)
        self.action = ActionServer(self, SelfTrain, base.SELF_TRAIN, execute_callback=self.execute,
                                   goal_callback=self.on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT)
        current = self.registry.current()
        self.get_logger().info(f'retrainer for {self.object_id}: bank {self.bank_dir}, model v{current.version} '
                               f'in service')

    def running(self) -> bool:
        return self.job is not None and not self.job.done.is_set()

    def start(self, request) -> tuple[Job | None, str]:
        """Start a job for a TriggerSelfTrain request or SelfTrain goal unless one runs or the request is bad;
        returns (job, reason)."""
        with self._lock:
            if self.running():
                return None, f'job {self.job.id} is running'
            if request.object_id not in ('', self.object_id):
                return None, f'this retrainer serves {self.object_id!r}, not {request.object_id!r}'
            if request.selection not in ('', 'all', 'new'):
                return None, f'selection {request.selection!r}: expected "all" or "new"'
            if not (self.bank_dir / 'bank.json').is_file():
                return None, f'{self.bank_dir}: no pseudo-label bank yet'
            config = replace(self.defaults, iterations=request.iterations or self.defaults.iterations,
                             max_frames=request.max_frames, selection=request.selection or 'all')
            self.job = Job(uuid.uuid4().hex[:8], config)
            threading.Thread(target=self._run, args=(self.job,), name=f'job-{self.job.id}', daemon=True).start()
            return self.job, f'self-training job {self.job.id}: {config.iterations} iteration(s)'

    def _run(self, job: Job) -> None:
        try:     # in a child process: the memory a job takes goes back to the system when it ends
            job.result = run_job_in_child(self.spec, job.config, job_id=job.id,
                                          on_progress=lambda p: setattr(job, 'progress', p), cancel=job.cancel,
                                          log=self.get_logger().info)
        except Exception as e:  # noqa: BLE001 - the child could not start; the model stays
            job.result = JobResult(False, f'job {job.id} failed: {e}', self.registry.current())
            self.get_logger().error(traceback.format_exc())
        self.get_logger().info(job.result.message)
        if job.result.published:
            m = job.result.model
            self.updates.publish(ModelUpdate(
                stamp=self.get_clock().now().to_msg(), model_kind='pose', object_id=self.object_id,
                version=m.version, path=str(m.path.resolve()), sha256=m.sha256,
                metric_names=list(m.metrics), metric_values=[float(v) for v in m.metrics.values()]))
        job.done.set()

    def on_trigger(self, request, response):
        job, reason = self.start(request)
        response.accepted, response.reason, response.job_id = job is not None, reason, job.id if job else ''
        return response

    def on_goal(self, goal) -> GoalResponse:
        if goal.object_id not in ('', self.object_id):
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def execute(self, handle):
        goal = handle.request
        job, reason = (self.job, '') if self.running() else self.start(goal)
        result = SelfTrain.Result()
        if job is None:
            handle.abort()
            result.success, result.message = False, reason
            return result
        while True:          # feedback at least once, even for a job that ends before the first 0.2 s
            if handle.is_cancel_requested:
                job.cancel.set()
            p = job.progress
            handle.publish_feedback(SelfTrain.Feedback(job_id=job.id, stage=p.stage, iteration=p.iteration,
                                                       iterations=p.iterations, progress=float(p.progress),
                                                       accepted_labels=p.accepted, candidates=p.candidates))
            if job.done.wait(0.2):
                break
        r = job.result
        result.success, result.message, result.job_id = r.success, r.message, job.id
        result.model_version, result.checkpoint_path = r.model.version, str(r.model.path)
        result.metric_names, result.metric_values = list(r.metrics), [float(v) for v in r.metrics.values()]
        if handle.is_cancel_requested and not r.success:
            handle.canceled()
        elif r.success:
            handle.succeed()
        else:
            handle.abort()
        return result

    def close(self) -> None:
        if self.running():
            self.job.cancel.set()
            self.job.done.wait(30)
        self.action.destroy()


def main(args=None) -> int:
    return base.run(RetrainerNode, args)
