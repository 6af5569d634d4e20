"""Self-training on the cell's pseudo-label bank: the recorder's and the retrainer's library side.

:func:`bank_frame` scores one frame's pose candidates and banks them (the recorder node, and bag
replay, call it). :func:`run_job` is one retraining job over the bank: mu + sigma selection, a student
initialised from the model in service, validation on a held-out slice of bank frames by agreement with
their verified labels, and publication of the student as a new version only when it is not worse.
"""
from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from binpick.catalog import Catalog
from binpick.data.bank import Candidate, PseudoLabelBank
from binpick.data.bop import BopSplit, read_mask
from binpick.errors import BinpickError
from binpick.evaluation.pose_error import add_or_adds, is_correct
from binpick.perception.model_registry import ModelRegistry, ModelVersion
from binpick.perception.pose.estimator import PoseEstimator
from binpick.perception.pose.labels import PoseLabel
from binpick.perception.pose.train import PoseTrainConfig, train_pose
from binpick.selftrain.loop import label_frames, select_candidates
from binpick.selftrain.scores import PoseScorer
from binpick.selftrain.selection import Selection, passes


class JobCancelled(BinpickError):
    """The job was cancelled; the model in service is unchanged."""


def bank_frame(bank: PseudoLabelBank, scorer: PoseScorer, rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray,
               masks: list[np.ndarray], T_cam_obj: list[np.ndarray], confidences: list[float],
               extra: dict | None = None, seed: int = 0) -> tuple[int, list[Candidate]]:
    """Score every pose candidate of one frame (masks and ``T_cam_obj`` in the camera frame, metres) and bank
    the frame with them; returns the frame id and the candidates."""
    scores = scorer.score(rgb, depth_m, K, masks, T_cam_obj, seed=seed)
    candidates = [Candidate(0, 0, '', np.asarray(T).tolist(), float(c), s.d_mask, s.d_image, s.d_appearance,
                            s.d_geo_m) for T, c, s in zip(T_cam_obj, confidences, scores)]
    return bank.add(rgb, depth_m, K, masks, candidates, extra), candidates


@dataclass(frozen=True)
class JobConfig:
    iterations: int = 1
    student_epochs: int = 2
    student_lr: float = 1e-4
    batch_size: int = 16
    holdout_every: int = 5          # every n-th bank frame is held out for validation
    max_frames: int = 0             # newest frames only; 0 = all
    selection: str = 'all'          # all | new (frames banked after those the model in service was trained on)
    criterion: str = 'both'
    min_gain: float = 0.0           # publish when the held-out verified rate rises by at least this much


@dataclass
class JobProgress:
    """What a job is doing now (read by the action server for feedback)."""

    job_id: str
    stage: str = 'queued'           # selecting | training | validating | publishing | done | failed | cancelled
    iteration: int = 0
    iterations: int = 0
    progress: float = 0.0
    accepted: int = 0
    candidates: int = 0


@dataclass
class JobResult:
    success: bool
    message: str
    model: ModelVersion
    published: bool = False
    metrics: dict = field(default_factory=dict)


def validate(estimator: PoseEstimator, scorer: PoseScorer, bank: PseudoLabelBank, frames: list[int],
             accepted: dict[str, bool], verified: Selection) -> dict:
    """A model's figures on held-out bank frames, without ground truth.

    ``accepted``: mask path of each banked candidate -> whether it is a verified label.
    ``verified_rate``: share of the frames' instances whose estimate passes the bank's thresholds
    (``verified.tau_*``), scored by the same verification as the recorder; it compares any two models
    fairly. ``agreement``: share of the frames' verified labels the model reproduces (ADD(-S) < 10 % of
    the diameter); the model that made the labels agrees with itself by construction, so it is reported,
    not used to decide.
    """
    obj, split = scorer.obj, BopSplit(bank.root)
    pts_m = obj.sample_points(500)
    instances = passed = labels = agree = 0
    for frame_id in frames:
        frame = split.frame(frame_id, 0)
        cands = bank.candidates(frame_id)
        masks = [read_mask(c.mask_path) for c in cands]
        results = estimator.estimate(frame.rgb, frame.depth_m, frame.camera.K, masks)
        keep = [k for k, r in enumerate(results) if r.T_cam_obj is not None]
        scores = scorer.score(frame.rgb, frame.depth_m, frame.camera.K, [masks[k] for k in keep],
                              [results[k].T_cam_obj for k in keep], seed=frame_id)
        instances += len(cands)
        passed += int(passes([s.d_appearance for s in scores], [s.d_geo_m for s in scores],
                             verified.tau_appearance, verified.tau_geometry_m).sum())
        for k in keep:
            if accepted.get(cands[k].mask_path):
                err = add_or_adds(results[k].T_cam_obj, np.array(cands[k].T_cam_obj), pts_m, obj.info.is_symmetric)
                agree += bool(is_correct(err, obj.info.diameter_m))
        labels += sum(bool(accepted.get(c.mask_path)) for c in cands)
    nan = float('nan')
    return {'verified_rate': passed / instances if instances else nan, 'agreement': agree / labels if labels else nan,
            'validation_instances': instances, 'validation_labels': labels}


def nan_if_none(value: float | None) -> float:
    """A threshold as a metric: NaN for a criterion not applied (0.0 stays 0.0)."""
    return float('nan') if value is None else float(value)


def _job_frames(bank: PseudoLabelBank, config: JobConfig, in_service) -> tuple[list[int], list[int], list[int]]:
    """The banked frames a job uses (all, or those after the model in service's last frame, the latest
    ``max_frames``), split into training frames and every ``holdout_every``-th held out."""
    frames = bank.frame_ids()
    if config.selection == 'new':
        frames = [f for f in frames if f > in_service.metrics.get('last_frame', -1)]
    if config.max_frames:
        frames = frames[-config.max_frames:]
    if len(frames) < 2:
        raise BinpickError(f'{bank.root}: {len(frames)} frames banked; a job needs at least 2 (one held out)')
    held_out = frames[config.holdout_every - 1::config.holdout_every] or frames[-1:]
    return frames, [f for f in frames if f not in held_out], held_out


def _train_students(bank: PseudoLabelBank, scorer: PoseScorer, train_frames: list[int], teacher: Path, work: Path,
                    config: JobConfig, catalog: Catalog, state: JobProgress, report, log) -> tuple[Path, Selection]:
    """``config.iterations`` rounds of select, then train a student from the teacher; returns the last
    student and the last round's selection."""
    split, current = BopSplit(bank.root), teacher
    for k in range(1, config.iterations + 1):
        state.iteration = k
        report('selecting')
        model = PoseEstimator.load(current, catalog, scorer.obj.name)
        if k == 1:        # the recorder scored the frames with the model in service
            candidates = bank.all_candidates(train_frames)
        else:             # the student labels the frames again
            candidates = label_frames(model, scorer, split, bank, progress=False, scene_ids=train_frames)
        selection = select_candidates(candidates, config.criterion)
        state.candidates, state.accepted = len(candidates), int(selection.accepted.sum())
        log(f'job {state.job_id} iteration {k}: {state.accepted} of {state.candidates} candidates accepted '
            f'(tau_a={selection.tau_appearance}, tau_g={selection.tau_geometry_m} m)')
        if state.accepted == 0:
            raise BinpickError(f'iteration {k}: no pseudo label accepted out of {state.candidates} candidates')
        labels = [PoseLabel(bank.root, c.scene_id, 0, Path(c.mask_path), np.array(c.T_cam_obj))
                  for c, ok in zip(candidates, selection.accepted) if ok]
        student = work / f'student_{k:02d}.pt'
        report('training')
        train_pose(labels, student, scorer.obj.name, catalog, model.config,
                   PoseTrainConfig(epochs=config.student_epochs, lr=config.student_lr,
                                   batch_size=config.batch_size, seed=k),
                   init=current, progress=False, log=log,
                   on_step=lambda done, total: report('training', done / total))
        current = student
    return current, selection


def _compare(bank: PseudoLabelBank, scorer: PoseScorer, frames: list[int], held_out: list[int], in_service: Path,
             student: Path, criterion: str, catalog: Catalog) -> tuple[dict, dict]:
    """The model in service and the student on the held-out frames, against the bank's verified labels
    (mu + sigma over every banked candidate): (before, after) figures of :func:`validate`."""
    banked = bank.all_candidates(frames)
    verified = select_candidates(banked, criterion)
    accepted = {c.mask_path: bool(ok) for c, ok in zip(banked, verified.accepted)}
    return tuple(validate(PoseEstimator.load(path, catalog, scorer.obj.name), scorer, bank, held_out, accepted,
                          verified) for path in (in_service, student))


def run_job(bank: PseudoLabelBank, registry: ModelRegistry, scorer: PoseScorer, work: Path,
            config: JobConfig = JobConfig(), catalog: Catalog | None = None, *, job_id: str | None = None,
            on_progress: Callable[[JobProgress], None] | None = None, cancel: threading.Event | None = None,
            log=print) -> JobResult:
    """One self-training job over ``bank``: frames, students, comparison on held-out frames, publication.
    The student is published to ``registry`` only if its verified rate on the held-out frames
    (:func:`validate`) is at least the model in service's plus ``min_gain``. Never raises for a failed job:
    the result says why, and the model in service is unchanged."""
    catalog = catalog or Catalog()
    state = JobProgress(job_id or uuid.uuid4().hex[:8], iterations=config.iterations)
    cancel = cancel or threading.Event()
    in_service = registry.current()

    def report(stage: str, progress: float = 0.0) -> None:
        if cancel.is_set():
            raise JobCancelled(f'job {state.job_id} cancelled during {state.stage}; model v{in_service.version} '
                               'stays in service')
        state.stage, state.progress = stage, progress
        if on_progress is not None:
            on_progress(state)

    try:
        frames, train_frames, held_out = _job_frames(bank, config, in_service)
        bank.protect(frames)
        t0 = time.perf_counter()
        student, selection = _train_students(bank, scorer, train_frames, in_service.path,
                                             Path(work) / state.job_id, config, catalog, state, report, log)
        report('validating')
        before, after = _compare(bank, scorer, frames, held_out, in_service.path, student, config.criterion, catalog)
        metrics = {**after, 'verified_rate_before': before['verified_rate'], 'agreement_before': before['agreement'],
                   'accepted_labels': state.accepted, 'candidates': state.candidates,
                   'tau_appearance': nan_if_none(selection.tau_appearance),
                   'tau_geometry_m': nan_if_none(selection.tau_geometry_m),
                   'train_frames': len(train_frames), 'held_out_frames': len(held_out), 'last_frame': max(frames),
                   'seconds': time.perf_counter() - t0}
        old, new = before['verified_rate'], after['verified_rate']
        if not new >= old + config.min_gain:
            report('done', 1.0)
            return JobResult(True, f'student verified rate {new:.3f} < {old:.3f} of v{in_service.version} + gain '
                             f'{config.min_gain:g} on {len(held_out)} held-out frames: not published', in_service,
                             False, metrics)
        report('publishing')
        model = registry.publish(student, metrics)
        report('done', 1.0)
        return JobResult(True, f'published v{model.version} (held-out verified rate {new:.3f}, was {old:.3f}; '
                         f'agreement with the verified labels {after["agreement"]:.3f})', model, True, metrics)
    except JobCancelled as e:
        state.stage = 'cancelled'
        return JobResult(False, str(e), in_service)
    except Exception as e:  # noqa: BLE001 - a failed job never takes the cell down; it says why
        state.stage = 'failed'
        log(f'job {state.job_id} failed:\n{traceback.format_exc()}')
        return JobResult(False, f'job {state.job_id} failed: {e}', in_service)
    finally:
        bank.release()


def bank_bag(bag: str | Path, bank: PseudoLabelBank, segmenter, estimator: PoseEstimator, scorer: PoseScorer,
             progress: bool = True, namespace: str = '/camera') -> int:
    """Replay a rosbag2 bag of camera frames through segmentation, pose estimation and the recorder's
    scoring into ``bank`` (what the online cell does frame by frame); returns the frames banked."""
    from tqdm import tqdm

    from binpick.data.bag import read_frames
    banked = 0
    for frame in tqdm(read_frames(bag, namespace), desc=f'banking {Path(bag).name}', unit='frame',
                      disable=not progress):
        masks = [i.mask for i in segmenter.segment(frame.rgb) if i.object_name == scorer.obj.name]
        results = estimator.estimate(frame.rgb, frame.depth_m, frame.K, masks)
        keep = [k for k, r in enumerate(results) if r.T_cam_obj is not None]
        if keep:
            bank_frame(bank, scorer, frame.rgb, frame.depth_m, frame.K, [masks[k] for k in keep],
                       [results[k].T_cam_obj for k in keep], [results[k].confidence for k in keep],
                       extra={'stamp_ns': frame.stamp_ns, 'bag': str(bag)}, seed=frame.stamp_ns % (1 << 31))
            banked += 1
    return banked
