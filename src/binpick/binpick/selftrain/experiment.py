"""The self-training experiment on one part (paper Tables 1-2, Fig. 5, on our domains): lower bound,
self-training with both criteria and with each alone, with thresholds calibrated on synthetic data
(beyond the paper), upper bound, all on the real-emulated test split with predicted masks; plus the
precision of the accepted pseudo labels, judged with the evaluation ground truth (diagnosis only:
self-training itself never sees it).

Everything lands in one folder and every stage resumes: datasets, checkpoints, predicted masks and
self-training iterations already made are reused.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from binpick.catalog import Catalog
from binpick.data import atomic
from binpick.data.bank import Candidate
from binpick.data.bop import GT_EVAL_DIR, BopSplit
from binpick.data.jsonfields import load_json
from binpick.evaluation.pose_eval import evaluate_pose
from binpick.evaluation.rules import DEFAULT_RULE
from binpick.perception.mask_store import MaskStore
from binpick.perception.pose.estimator import PoseEstimator
from binpick.perception.pose.labels import labels_from_bop
from binpick.perception.pose.train import PoseTrainConfig, train_pose
from binpick.selftrain.calibration import Calibration, calibrate, candidates_correct
from binpick.selftrain.loop import NoLabelsAccepted, SelfTrainConfig, self_train
from binpick.selftrain.perceptual import PerceptualDistance
from binpick.selftrain.scores import PoseScorer
from binpick.selftrain.selection import PAPER_CRITERIA, Selection

JOINT = 'both+segmentation'   # the experiment's row of joint pose + segmentation self-training


@dataclass
class ExperimentConfig:
    """Sizes of everything the experiment makes. ``quick()`` is the smoke-run preset."""

    object_name: str = 'zigzag_bracket'
    syn_scenes: int = 60
    syn_test_scenes: int = 6
    real_scenes: int = 20
    real_test_scenes: int = 8
    seg_epochs: int = 7
    seg_score_threshold: float = 0.5
    teacher: PoseTrainConfig = field(default_factory=PoseTrainConfig)
    selftrain: SelfTrainConfig = field(default_factory=SelfTrainConfig)
    criteria: tuple[str, ...] = PAPER_CRITERIA
    ablation_iterations: int | None = None   # iterations of the d_a-only / d_g-only runs (default: as both)
    # beyond the paper: thresholds fitted on the synthetic test split at this precision, run as a row of its
    # own with as many iterations as both (None: no such row)
    calibration_precision: float | None = 0.97
    calibration_min_candidates: int = 20       # fewer synthetic candidates than this: no thresholds to fit
    # beyond the paper: both criteria, and the accepted poses also fine-tune the segmentation (a row of its own)
    joint: bool = True

    @classmethod
    def quick(cls, object_name: str) -> ExperimentConfig:
        return cls(object_name, syn_scenes=6, syn_test_scenes=1, real_scenes=3, real_test_scenes=1,
                   seg_epochs=2, seg_score_threshold=0.3, teacher=PoseTrainConfig(epochs=2),
                   selftrain=SelfTrainConfig(iterations=2, student_epochs=1), ablation_iterations=1,
                   calibration_min_candidates=5)


def _stage(log, text: str) -> None:
    log(f'== {text}')


def pseudo_label_precision(candidates: list[Candidate], accepted: np.ndarray, gt_split: BopSplit,
                           obj, pts_m: np.ndarray) -> dict:
    """Share of candidates whose pose is correct (:func:`candidates_correct`), among the accepted, the
    rejected and all. Diagnosis only."""
    correct = candidates_correct(candidates, gt_split, obj, pts_m)
    share = lambda m: float(correct[m].mean()) if m.any() else float('nan')  # noqa: E731
    return {'precision_accepted': share(accepted), 'precision_rejected': share(~accepted),
            'precision_all': share(np.ones(len(correct), dtype=bool)),
            'correct_accepted': int((correct & accepted).sum())}


class _Timer:
    """Wall time per stage name, summed over the calls of this run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
        return result


def _datasets(out: Path, config: ExperimentConfig, obj, catalog: Catalog, syn: Path | None, real: Path | None,
              workers: int, progress: bool, timed: _Timer, log) -> tuple[Path, Path]:
    """The synthetic and real-emulated datasets (simulated unless given or already there)."""
    from binpick.sim.generator import CellConfig
    from binpick.sim.synth import SynthRequest
    from binpick.sim.synth import run as synth
    syn, real = Path(syn or out / 'data_synthetic'), Path(real or out / 'data_real')
    for path, domain, scenes, test, seed in ((syn, 'synthetic', config.syn_scenes, config.syn_test_scenes, 3),
                                             (real, 'real', config.real_scenes, config.real_test_scenes, 2)):
        if not (path / 'dataset_info.json').is_file():
            _stage(log, f'simulating {domain} bins into {path}')
            timed('data', synth, SynthRequest(obj.name, domain, scenes, test, 5, 'mixed', seed), path,
                  CellConfig.from_config(), catalog, workers=workers, progress=progress)
    return syn, real


def _segmentation(out: Path, config: ExperimentConfig, obj, catalog: Catalog, syn: Path, progress: bool,
                  timed: _Timer, log) -> Path:
    """The instance segmentation model trained on the synthetic bins (resumes)."""
    from binpick.perception.seg_train import SegTrainConfig, train_segmentation
    seg = out / 'seg.pt'
    if not (out / 'seg.done').is_file():
        _stage(log, f'training instance segmentation on synthetic bins -> {seg}')
        timed('segmentation training', train_segmentation, [syn / 'train'], seg, [obj.name], catalog,
              train=SegTrainConfig(epochs=config.seg_epochs), resume=True, progress=progress, log=log)
        atomic.write_text(out / 'seg.done', str(seg))
    return seg


def _bounds(out: Path, config: ExperimentConfig, obj, catalog: Catalog, syn: Path, real: Path, lb: Path | None,
            ub: Path | None, progress: bool, timed: _Timer, log) -> dict[str, Path]:
    """LB (trained on the synthetic bins) and UB (LB trained on, like the students, the real train split, but
    with its evaluation ground truth: self-training with perfect labels); given checkpoints are reused."""
    bounds: dict[str, Path] = {}
    for name, given, data, gt_dir in (('LB', lb, syn / 'train', None),
                                      ('UB', ub, real / 'train', real / GT_EVAL_DIR / 'train')):
        ckpt = Path(given or out / f'pose_{name.lower()}.pt')
        done = out / f'pose_{name.lower()}.done'
        if given is None and not done.is_file():
            _stage(log, f'training the {name} pose model -> {ckpt}')
            labels = labels_from_bop(data, obj.obj_id, gt_dir)
            timed(f'{name} training', train_pose, labels, ckpt, obj.name, catalog, train=config.teacher,
                  init=bounds.get('LB'), resume=True, progress=progress, log=log)
            atomic.write_text(done, str(ckpt))
        bounds[name] = ckpt
    return bounds


def _calibration(out: Path, config: ExperimentConfig, obj, catalog: Catalog, syn: Path, segmenter, lb: Path,
                 progress: bool, timed: _Timer, log) -> Path:
    """Acceptance thresholds fitted on the LB's candidates of the synthetic test split (resumes)."""
    path = out / 'calibration.json'
    if not path.is_file():
        _stage(log, f'calibrating the acceptance thresholds on the synthetic test split at '
                    f'{100 * config.calibration_precision:.0f} % precision -> {path}')
        masks_syn = MaskStore(out / 'masks' / 'syn_test')
        timed('segmentation inference', masks_syn.fill, BopSplit(syn / 'test'), segmenter, obj.name, progress)
        scorer = PoseScorer(obj, PerceptualDistance(config.selftrain.perceptual), config.selftrain.geometry)
        fitted, _ = timed('calibration', calibrate, PoseEstimator.load(lb, catalog, obj.name), scorer,
                          BopSplit(syn / 'test'), masks_syn, config.calibration_precision,
                          f'{syn / "test"}, teacher {lb}', progress, config.calibration_min_candidates)
        fitted.save(path)
    return path


def _self_training(out: Path, config: ExperimentConfig, criterion: str, calibration: Path | None, lb: Path,
                   syn: Path, real: Path, masks_train: MaskStore, catalog: Catalog, diagnose, progress: bool,
                   timed: _Timer, log, seg: Path | None = None) -> tuple[list[dict], str]:
    """Self-training from LB on the real train split with one criterion (resumes): its iteration records,
    and why it stopped early ('' when it ran every iteration). Students mix in the synthetic train split's
    labels when ``config.selftrain.synthetic_share`` is above 0."""
    iterations = config.selftrain.iterations
    if criterion in ('appearance', 'geometry') and config.ablation_iterations:
        iterations = config.ablation_iterations
    joint = criterion == JOINT
    _stage(log, f'self-training from LB, criterion {criterion}, {iterations} iterations')
    settings = replace(config.selftrain, criterion='both' if joint else criterion, iterations=iterations,
                       calibration=str(calibration) if criterion == 'calibrated' else config.selftrain.calibration,
                       synthetic=str(syn / 'train') if config.selftrain.synthetic_share > 0 else '',
                       segmentation=joint)
    run, stopped = out / ('selftrain_both_segmentation' if joint else f'selftrain_{criterion}'), ''
    try:
        records = timed(f'self-training ({criterion})', self_train, lb, real / 'train', run, masks_train, settings,
                        catalog, evaluate=diagnose, progress=progress, log=log, seg_ckpt=seg if joint else None)
    except NoLabelsAccepted as e:       # the other criteria still run; the report says where this one stopped
        stopped = str(e)
        log(f'self-training with criterion {criterion} stopped: {stopped}')
        records = [load_json(p) for p in sorted(run.glob('iter_*/record.json'))]
    return [{k: v for k, v in r.items() if k != 'accepted_index'} for r in records], stopped


def run_experiment(out: str | Path, config: ExperimentConfig, catalog: Catalog | None = None, *,
                   syn: Path | None = None, real: Path | None = None, seg: Path | None = None,
                   lb: Path | None = None, ub: Path | None = None, workers: int = 2, progress: bool = True,
                   log=print) -> dict:
    """Run (or resume) the whole experiment in ``out``; returns the results written to results.json.

    Stages: datasets, segmentation, LB and UB, predicted masks, the bounds' recall, calibration, then
    self-training once per criterion. ``syn``, ``real``, ``seg``, ``lb``, ``ub``: reuse these datasets /
    checkpoints instead of making them.
    """
    from binpick.perception.segmentation import Segmenter
    from binpick.selftrain.report import summary, write_report

    catalog = catalog or Catalog()
    obj = catalog.get(config.object_name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start, timed = time.perf_counter(), _Timer()
    syn, real = _datasets(out, config, obj, catalog, syn, real, workers, progress, timed, log)
    seg = Path(seg) if seg is not None else _segmentation(out, config, obj, catalog, syn, progress, timed, log)
    segmenter = Segmenter.load(seg, catalog, score_threshold=config.seg_score_threshold)
    bounds = _bounds(out, config, obj, catalog, syn, real, lb, ub, progress, timed, log)

    _stage(log, 'predicting instance masks of the real-emulated train (unlabeled) and test frames')
    masks_train, masks_test = MaskStore(out / 'masks' / 'train'), MaskStore(out / 'masks' / 'test')
    timed('segmentation inference', masks_train.fill, BopSplit(real / 'train'), segmenter, obj.name, progress)
    timed('segmentation inference', masks_test.fill, BopSplit(real / 'test'), segmenter, obj.name, progress)

    def recall_of(ckpt: Path, masks: MaskStore = masks_test) -> float:
        ev = evaluate_pose(PoseEstimator.load(ckpt, catalog, obj.name), real / 'test', obj,
                           predicted_masks=lambda s, i, rgb: masks.masks(s, i))
        return float(ev.report.mean)

    def ap50_of(seg_ckpt: Path) -> float:
        from binpick.evaluation.segmentation_eval import evaluate_checkpoint
        return float(evaluate_checkpoint(seg_ckpt, real / 'test', catalog)['AP50'])

    gt_train = BopSplit(real / 'train', real / GT_EVAL_DIR / 'train')
    pts = obj.sample_points(1000)

    def diagnose(student: Path, candidates: list[Candidate], selection: Selection, seg: Path | None = None) -> dict:
        figures = pseudo_label_precision(candidates, selection.accepted, gt_train, obj, pts)
        if seg is None:
            return {'recall': timed('evaluation', recall_of, student), **figures}
        masks = MaskStore(Path(seg).parent / 'masks_test')     # the test frames through this iteration's model
        timed('segmentation inference', masks.fill, BopSplit(real / 'test'),
              Segmenter.load(seg, catalog, score_threshold=config.seg_score_threshold), obj.name, progress)
        return {'recall': timed('evaluation', recall_of, student, masks),
                'seg_ap50': timed('evaluation', ap50_of, seg), **figures}

    _stage(log, 'evaluating LB and UB on the real-emulated test split (predicted masks)')
    recall = {name: timed('evaluation', recall_of, ckpt) for name, ckpt in bounds.items()}
    log(f'LB {100 * recall["LB"]:.1f} %, UB {100 * recall["UB"]:.1f} %')

    criteria, calibration = list(config.criteria), None
    if config.calibration_precision is not None:
        calibration = _calibration(out, config, obj, catalog, syn, segmenter, bounds['LB'], progress, timed, log)
        criteria.append('calibrated')
    if config.joint:
        criteria.append(JOINT)
    runs, stopped = {}, {}
    for criterion in criteria:
        runs[criterion], why = _self_training(out, config, criterion, calibration, bounds['LB'], syn, real,
                                              masks_train, catalog, diagnose, progress, timed, log, seg=seg)
        if why:
            stopped[criterion] = why
    results = {'object': obj.name, 'symmetric': obj.info.is_symmetric,
               'metric': 'ADD-S' if obj.info.is_symmetric else 'ADD', 'rule': DEFAULT_RULE, 'config': asdict(config),
               'data': {'synthetic': str(syn), 'real': str(real)}, 'segmentation': str(seg),
               'lb': str(bounds['LB']), 'ub': str(bounds['UB']), 'recall_lb': recall['LB'], 'recall_ub': recall['UB'],
               'calibration': asdict(Calibration.load(calibration)) if calibration else None,
               'selftrain': runs, 'stopped': stopped, 'seconds_this_run': timed.seconds,
               'seg_ap50_lb': timed('evaluation', ap50_of, seg),
               'total_seconds_this_run': time.perf_counter() - t_start}
    results.update(summary(results))
    atomic.write_json(out / 'results.json', results)
    write_report(results, out)
    return results
