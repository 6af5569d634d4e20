"""A self-training job in its own process, so that what it allocates goes back to the system when it ends.

A job holds a few hundred MB of tensors, images and a second model, and glibc keeps most of the heap it freed:
run in the retrainer's own process, a job left the node about 1.2 GB larger than before it (30-minute soak,
2026-11-28). :func:`run_job_in_child` runs :func:`~binpick.selftrain.online.run_job` in a spawned child and
relays its progress, log lines and result; the retrainer's process stays at its idle size.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from binpick.perception.model_registry import ModelRegistry
from binpick.selftrain.online import JobConfig, JobProgress, JobResult

STOP_GRACE_S = 30.0     # a cancelled child's time to reach its next stage boundary before it is killed


@dataclass(frozen=True)
class JobSpec:
    """Everything a child needs to build a job (picklable): the bank, the registry and the scorer's settings."""

    bank_dir: Path
    object_id: str
    model_dir: Path
    initial_checkpoint: Path | None
    catalog_roots: tuple[Path, ...]
    perceptual: str = 'auto'
    geometry: str = 'visible'
    crop_px: int = 64
    threads: int = 0                # torch threads in the child; 0 = torch's default

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.model_dir, self.initial_checkpoint)


def _exit_with_parent(parent_pid: int) -> None:
    """Leave when the retrainer is gone (killed with -9 it cannot stop its child)."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


def _child(spec: JobSpec, config: JobConfig, job_id: str, events, cancel, parent_pid: int) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):     # Ctrl-C on the cell ends the job at once, without a traceback
        signal.signal(sig, signal.SIG_DFL)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    try:
        import torch

        from binpick.catalog import Catalog
        from binpick.data.bank import PseudoLabelBank
        from binpick.selftrain.online import run_job
        from binpick.selftrain.perceptual import PerceptualDistance
        from binpick.selftrain.scores import PoseScorer
        if spec.threads > 0:
            torch.set_num_threads(spec.threads)
        catalog = Catalog(list(spec.catalog_roots))
        scorer = PoseScorer(catalog.get(spec.object_id), PerceptualDistance(spec.perceptual), spec.geometry,
                            spec.crop_px)
        bank = PseudoLabelBank(spec.bank_dir, spec.object_id, scorer=scorer.description)
        result = run_job(bank, spec.registry(), scorer, spec.bank_dir.parent / 'jobs', config, catalog,
                         job_id=job_id, on_progress=lambda p: events.put(('progress', replace(p))), cancel=cancel,
                         log=lambda line: events.put(('log', line)))
        events.put(('result', result))
    except Exception as e:  # noqa: BLE001 - the job could not start; the parent reports it, the model stays
        events.put(('log', traceback.format_exc()))
        events.put(('failed', f'{type(e).__name__}: {e}'))


def run_job_in_child(spec: JobSpec, config: JobConfig, *, job_id: str,
                     on_progress: Callable[[JobProgress], None] | None = None,
                     cancel: threading.Event | None = None, log: Callable[[str], None] = print) -> JobResult:
    """Run one job (:func:`~binpick.selftrain.online.run_job`) in a spawned child process and return its result.

    ``on_progress`` and ``log`` are called in this process as the child reports. Setting ``cancel`` cancels the
    job at its next stage boundary; a child still running ``STOP_GRACE_S`` later is killed. A child that dies
    (killed, out of memory) gives a failed result naming its exit code; the model in service is unchanged."""
    ctx = mp.get_context('spawn')
    events, child_cancel = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_child, args=(spec, config, job_id, events, child_cancel, os.getpid()),
                        name=f'binpick-job-{job_id}', daemon=True)
    child.start()
    result: JobResult | None = None
    failure, cancelled_at = '', None
    try:
        while result is None and not failure:
            if cancel is not None and cancel.is_set() and cancelled_at is None:
                child_cancel.set()
                cancelled_at = time.monotonic()
            if cancelled_at is not None and time.monotonic() - cancelled_at > STOP_GRACE_S:
                failure = f'cancelled; its process did not stop within {STOP_GRACE_S:g} s and was killed'
                break
            try:
                kind, value = events.get(timeout=0.2)
            except queue.Empty:
                if not child.is_alive() and events.empty():
                    failure = f'its process exited with code {child.exitcode} before finishing'
                continue
            if kind == 'progress' and on_progress is not None:
                on_progress(value)
            elif kind == 'log':
                log(value)
            elif kind == 'result':
                result = value
            elif kind == 'failed':
                failure = value
    finally:
        child.join(timeout=5.0)
        if child.is_alive():
            child.kill()
            child.join()
        events.close()
    if result is None:
        return JobResult(False, f'job {job_id} failed: {failure}', spec.registry().current())
    return result
