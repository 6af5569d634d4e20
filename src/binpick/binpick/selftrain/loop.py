"""Iterative self-training (paper Sec. 3.4): the teacher labels every instance of the unlabeled
frames, the verification scores select pseudo labels (mu + sigma), a student initialised from the
teacher is trained on them with the pose trainer, and the student becomes the next teacher.

Ground truth of the unlabeled frames is never read here: the unlabeled split is refused if it holds
any, and frames are read without it. (Students may mix in ground truth of a separate synthetic split,
``synthetic_share``.) Output folder (resumable after a kill, each file written atomically):

    OUT/selftrain.json              the run's settings (a rerun with other settings is refused)
    OUT/masks/                      predicted masks of the unlabeled frames (MaskStore)
    OUT/iter_KK/candidates.json     every scored candidate of iteration K
    OUT/iter_KK/student.pt          the student (rewritten while it trains)
    OUT/iter_KK/record.json         thresholds, counts, timings, evaluation; written last = done
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from binpick.catalog import Catalog
from binpick.data import atomic
from binpick.data.bank import Candidate
from binpick.data.bop import BopSplit, read_mask
from binpick.data.jsonfields import load_json
from binpick.errors import BinpickError
from binpick.perception.mask_store import MaskStore
from binpick.perception.model_registry import sha256
from binpick.perception.pose.estimator import PoseEstimator
from binpick.perception.pose.labels import PoseLabel, labels_from_bop
from binpick.perception.pose.train import PoseTrainConfig, train_pose
from binpick.selftrain.perceptual import PerceptualDistance
from binpick.selftrain.scores import PoseScorer
from binpick.selftrain.selection import Selection, select

GT_FILES = ('scene_gt.json', 'scene_gt_info.json', 'mask', 'mask_visib')


class SelfTrainError(BinpickError):
    """Self-training cannot go on (label leak, no accepted labels, changed settings)."""


class NoLabelsAccepted(SelfTrainError):
    """An iteration accepted no pseudo label: the loop stops there, its earlier iterations stand."""


@dataclass(frozen=True)
class SelfTrainConfig:
    iterations: int = 5
    criterion: str = 'both'          # both | appearance (d_a only) | geometry (d_g only) | calibrated
    calibration: str = ''            # with calibrated: the JSON of binpick calibrate-selection
    geometry: str = 'visible'        # visible (paper) | whole (authors' code)
    perceptual: str = 'auto'         # binpick.selftrain.PERCEPTUAL_BACKENDS
    student_epochs: int = 4
    student_lr: float = 1e-4         # the teacher's 1e-3 / 10, the paper's ratio
    batch_size: int = 32
    seed: int = 0
    # beyond the paper: this share of each student's labels is ground truth drawn from a labelled synthetic
    # split (``synthetic``), so that the student keeps what the teacher learnt there (0: pseudo labels only)
    synthetic_share: float = 0.0
    synthetic: str = ''
    # joint self-training: the accepted poses, rendered, also fine-tune the segmentation (selftrain.mask_labels),
    # and the next iteration labels with the new segmentation's masks
    segmentation: bool = False
    seg_epochs: int = 1
    seg_iters_per_epoch: int = 60
    seg_lr: float = 0.002


def _train_split(path: str | Path) -> Path:
    """``path`` itself, or ``path/train`` for a binpick dataset folder."""
    path = Path(path)
    if (path / 'dataset_info.json').is_file() and (path / 'train').is_dir():
        path = path / 'train'
    return path


def unlabeled_split(path: str | Path) -> Path:
    """The split folder to label: ``path`` itself, or ``path/train`` for a binpick dataset folder.

    Raises:
        SelfTrainError: when the split holds ground-truth files (they would leak labels).
    """
    path = _train_split(path)
    if not path.is_dir():
        raise SelfTrainError(f'{path}: unlabeled folder does not exist')
    for scene in sorted(p for p in path.iterdir() if p.is_dir()):
        leaks = [name for name in GT_FILES if (scene / name).exists()]
        if leaks:
            raise SelfTrainError(f'{scene}: holds ground truth ({", ".join(leaks)}); an unlabeled folder must not '
                                 '(it would leak labels into self-training)')
    return path


def label_frames(estimator: PoseEstimator, scorer: PoseScorer, split: BopSplit, masks: MaskStore,
                 progress: bool = True, desc: str = 'labelling', scene_ids: list[int] | None = None) -> list[Candidate]:
    """The teacher's estimate and verification scores of every instance of every frame (of ``scene_ids``
    only, when given). ``masks`` is anything with ``mask_paths(scene_id, im_id)``."""
    from tqdm import tqdm
    frames = [(s, i) for s in (split.scene_ids() if scene_ids is None else scene_ids) for i in split.image_ids(s)]
    candidates = []
    for scene_id, im_id in tqdm(frames, desc=desc, unit='image', disable=not progress):
        frame = split.frame(scene_id, im_id)
        paths = masks.mask_paths(scene_id, im_id)
        inst_masks = [read_mask(p) for p in paths]
        results = estimator.estimate(frame.rgb, frame.depth_m, frame.camera.K, inst_masks)
        keep = [k for k, r in enumerate(results) if r.T_cam_obj is not None]
        scores = scorer.score(frame.rgb, frame.depth_m, frame.camera.K, [inst_masks[k] for k in keep],
                              [results[k].T_cam_obj for k in keep], seed=scene_id * 1000 + im_id)
        for k, s in zip(keep, scores):
            candidates.append(Candidate(scene_id, im_id, str(paths[k]), results[k].T_cam_obj.tolist(),
                                        results[k].confidence, s.d_mask, s.d_image, s.d_appearance, s.d_geo_m))
    return candidates


def synthetic_labels(config: SelfTrainConfig, obj) -> list[PoseLabel]:
    """The ground-truth labels a student mixes in (none when ``config.synthetic_share`` is 0)."""
    if not 0.0 <= config.synthetic_share < 1.0:
        raise SelfTrainError(f'synthetic_share must be in [0, 1), got {config.synthetic_share}')
    if config.synthetic_share == 0.0:
        return []
    if not config.synthetic:
        raise SelfTrainError('synthetic_share > 0 needs a labelled synthetic split to draw from (--synthetic)')
    split = _train_split(config.synthetic)
    labels = labels_from_bop(split, obj.obj_id) if split.is_dir() else []
    if not labels:
        raise SelfTrainError(f'{split}: no ground-truth labels of {obj.name} to mix into the students')
    return labels


def mix_labels(pseudo: list[PoseLabel], synthetic: list[PoseLabel], share: float, seed: int) -> list[PoseLabel]:
    """``pseudo`` plus as many synthetic labels (drawn without replacement, as far as they go) as make up
    ``share`` of the result."""
    if not synthetic or share <= 0.0:
        return list(pseudo)
    n = min(len(synthetic), round(len(pseudo) * share / (1.0 - share)))
    pick = np.random.default_rng(seed).choice(len(synthetic), size=n, replace=False)
    return list(pseudo) + [synthetic[int(i)] for i in pick]


def select_candidates(candidates: list[Candidate], criterion: str, calibration=None) -> Selection:
    return select(np.array([c.d_appearance for c in candidates]), np.array([c.d_geo_m for c in candidates]),
                  criterion, calibration)


def self_train(teacher: str | Path, unlabeled: str | Path, out: str | Path, masks: MaskStore,
               config: SelfTrainConfig = SelfTrainConfig(), catalog: Catalog | None = None,
               evaluate: Callable[[Path, list[Candidate], Selection], dict] | None = None,
               progress: bool = True, log=print, *, seg_ckpt: str | Path | None = None) -> list[dict]:
    """Run (or resume) ``config.iterations`` self-training iterations; returns the iteration records.

    Args:
        teacher: pose checkpoint of the first teacher (trained on synthetic data: the lower bound).
        unlabeled: split folder of unlabeled frames (see :func:`unlabeled_split`).
        masks: predicted masks of those frames (filled beforehand).
        evaluate: optional callable(student checkpoint, candidates, selection) -> figures, stored
            in each record (the experiment's diagnosis; it may use evaluation ground truth, this
            function never does). With ``config.segmentation`` it also gets ``seg=`` the iteration's
            segmentation student.
        seg_ckpt: with ``config.segmentation``, the segmentation that predicted ``masks`` (the first
            segmentation teacher).
    """
    catalog = catalog or Catalog()
    out, split_dir = Path(out), unlabeled_split(unlabeled)
    first = PoseEstimator.load(teacher, catalog)
    obj = catalog.get(first.config.object_name)
    mixed_in = synthetic_labels(config, obj)          # refused before anything is written
    current_seg = _first_segmentation(config, seg_ckpt, obj, catalog)
    settings = {'teacher': str(teacher), 'teacher_sha256': sha256(Path(teacher)), 'unlabeled': str(split_dir),
                'object': obj.name, **asdict(config)}
    settings_path = out / 'selftrain.json'
    if settings_path.is_file():
        before = load_json(settings_path)
        defaults = asdict(SelfTrainConfig())       # a setting added since that run: it ran with the default
        changed = sorted(k for k in settings if k != 'iterations' and before.get(k, defaults.get(k)) != settings[k])
        if changed:
            raise SelfTrainError(f'{out} holds a self-training run with other settings ({", ".join(changed)}); '
                                 'use another --out')
    atomic.write_json(settings_path, settings)

    split = BopSplit(split_dir)
    scorer = PoseScorer(obj, PerceptualDistance(config.perceptual), config.geometry)
    calibration = None
    if config.criterion == 'calibrated':
        from binpick.selftrain.calibration import Calibration
        if not config.calibration:
            raise SelfTrainError('--criterion calibrated needs --calibration FILE (binpick calibrate-selection)')
        calibration = Calibration.load(config.calibration)
    records, current = [], Path(teacher)
    for k in range(1, config.iterations + 1):
        d = out / f'iter_{k:02d}'
        record_path, cand_path, student = d / 'record.json', d / 'candidates.json', d / 'student.pt'
        if record_path.is_file():
            records.append(load_json(record_path))
            current = student
            if config.segmentation:
                current_seg, masks = d / 'seg.pt', MaskStore(d / 'masks')
            continue
        t0 = time.perf_counter()
        if cand_path.is_file():
            candidates = [Candidate(**c) for c in load_json(cand_path)]
        else:
            estimator = PoseEstimator.load(current, catalog, obj.name)
            candidates = label_frames(estimator, scorer, split, masks, progress, f'iteration {k}: labelling')
            atomic.write_json(cand_path, [asdict(c) for c in candidates], indent=None)
        label_s = time.perf_counter() - t0
        selection = select_candidates(candidates, config.criterion, calibration)
        n_acc = int(selection.accepted.sum())
        log(f'iteration {k}: {n_acc} of {len(candidates)} candidates accepted ({config.criterion}; '
            f'tau_a={selection.tau_appearance}, tau_g={selection.tau_geometry_m} m; {scorer.perceptual.name})')
        if n_acc == 0:
            raise NoLabelsAccepted(f'iteration {k}: no pseudo label accepted out of {len(candidates)} candidates; '
                                 f'the model stays {current}')
        labels = mix_labels([PoseLabel(split_dir, c.scene_id, c.im_id, Path(c.mask_path), np.array(c.T_cam_obj))
                             for c, ok in zip(candidates, selection.accepted) if ok],
                            mixed_in, config.synthetic_share, config.seed + k)
        t1 = time.perf_counter()
        train_pose(labels, student, obj.name, catalog, first.config,
                   PoseTrainConfig(epochs=config.student_epochs, lr=config.student_lr,
                                   batch_size=config.batch_size, seed=config.seed + k),
                   init=current, resume=True, progress=progress, log=log)
        record = {'iteration': k, 'teacher': str(current), 'student': str(student),
                  'student_sha256': sha256(student), **selection.to_dict(), 'criterion': config.criterion,
                  'perceptual': scorer.perceptual.name, 'geometry': config.geometry,
                  'accepted_index': np.flatnonzero(selection.accepted).tolist(),
                  'synthetic_labels': len(labels) - n_acc,
                  'label_seconds': label_s, 'train_seconds': time.perf_counter() - t1}
        if config.segmentation:
            record.update(_segmentation_student(d, split, candidates, selection, masks, current_seg, obj, catalog,
                                                config, progress, log))
            current_seg, masks = d / 'seg.pt', MaskStore(d / 'masks')
        if evaluate is not None:
            extra = {'seg': current_seg} if config.segmentation else {}
            record['evaluation'] = evaluate(student, candidates, selection, **extra)
        atomic.write_json(record_path, record)
        records.append(record)
        current = student
    return records


def _first_segmentation(config: SelfTrainConfig, seg_ckpt, obj, catalog: Catalog) -> Path | None:
    """The segmentation teacher of a joint run, checked to be one for ``obj`` (None for a pose-only run)."""
    if not config.segmentation:
        return None
    if seg_ckpt is None:
        raise SelfTrainError('joint self-training (--segmentation) needs the segmentation that made the masks')
    from binpick.perception import checkpoint
    from binpick.perception.segmentation import KIND
    names = checkpoint.load(seg_ckpt, KIND)['config']['object_names']
    if obj.name not in names:
        raise SelfTrainError(f'{seg_ckpt}: a segmentation model for {", ".join(names)}, not for {obj.name}')
    return Path(seg_ckpt)


def _segmentation_student(d: Path, split: BopSplit, candidates: list[Candidate], selection: Selection,
                          masks: MaskStore, teacher_seg: Path, obj, catalog: Catalog, config: SelfTrainConfig,
                          progress: bool, log) -> dict:
    """The iteration's segmentation student, trained from ``teacher_seg`` on the rendered masks of the
    accepted poses (``d/seg_labels``), and its masks of the unlabeled frames (``d/masks``)."""
    from binpick.perception import checkpoint
    from binpick.perception.seg_model import SegConfig
    from binpick.perception.seg_train import SegTrainConfig, train_segmentation
    from binpick.perception.segmentation import KIND, Segmenter
    from binpick.selftrain.mask_labels import write_mask_labels

    labels_dir = d / 'seg_labels'
    if (labels_dir / 'labels.json').is_file():
        stats = load_json(labels_dir / 'labels.json')
    else:
        stats = write_mask_labels(labels_dir, split, candidates, selection.accepted, masks, obj).to_dict()
    if stats['verified'] == 0:
        raise NoLabelsAccepted(f'{d.name}: none of the accepted poses gave a visible mask with observed depth; '
                               f'the segmentation stays {teacher_seg}')
    t0 = time.perf_counter()
    seg_config = SegConfig(**checkpoint.load(teacher_seg, KIND)['config'])
    train_segmentation([split.root], d / 'seg.pt', [obj.name], catalog, seg_config,
                       SegTrainConfig(epochs=config.seg_epochs, max_iters_per_epoch=config.seg_iters_per_epoch,
                                      lr=config.seg_lr, warmup_iters=min(20, config.seg_iters_per_epoch),
                                      seed=config.seed),
                       resume=True, init=teacher_seg, progress=progress, log=log, gt_dirs=[labels_dir])
    MaskStore(d / 'masks').fill(split, Segmenter.load(d / 'seg.pt', catalog), obj.name, progress=progress)
    log(f'{d.name}: segmentation student on {stats["verified"]} verified and {stats["unverified"]} kept masks')
    return {'seg_teacher': str(teacher_seg), 'seg_student': str(d / 'seg.pt'), 'mask_labels': stats,
            'seg_train_seconds': time.perf_counter() - t0}
