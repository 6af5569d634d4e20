"""Pseudo-label verification scores, selection and the self-training loop (tiny sizes, real rendering
and real training). The loop must never open ground truth: an audit hook watches every file it opens."""
import json
import shutil
import sys

import numpy as np
import pytest
from conftest import small_synth_dataset

from binpick.catalog import Catalog
from binpick.data import atomic
from binpick.data.bop import BopSplit
from binpick.data.errors import DataFormatError
from binpick.geometry import axis_angle, visible_points
from binpick.perception import checkpoint
from binpick.perception.mask_store import MaskStore
from binpick.perception.pose.labels import labels_from_bop
from binpick.perception.pose.network import PoseNetConfig
from binpick.perception.pose.train import PoseTrainConfig, train_pose
from binpick.selftrain.calibration import Calibration, fit_thresholds
from binpick.selftrain.loop import SelfTrainConfig, SelfTrainError, mix_labels, self_train, unlabeled_split
from binpick.selftrain.perceptual import PerceptualDistance
from binpick.selftrain.scores import PoseScorer, chamfer_distance, mask_similarity
from binpick.selftrain.selection import passes, select

CATALOG = Catalog()
OBJ = CATALOG.get('connector_block')
CONFIG = PoseNetConfig('connector_block', n_points=64, crop_px=32, point_dim=32, global_dim=64)
OPENED: list[str] = []
_WATCH = [False]


def _audit(event, args):
    if _WATCH[0] and event == 'open':
        OPENED.append(str(args[0]))


sys.addaudithook(_audit)


def test_mask_similarity_is_eq3():
    M_o = np.zeros((10, 10), bool)
    M_o[2:6, 2:6] = True                       # 16 observed pixels
    assert mask_similarity(M_o, M_o) == 1.0
    M_r = np.zeros((10, 10), bool)
    M_r[2:6, 2:4] = True                       # covers 8 of them; rendered background 92, of which 84 observed bg
    assert mask_similarity(M_r, M_o) == pytest.approx(0.5 * (8 / 16 + 84 / 92))
    assert mask_similarity(~M_o, M_o) == 0.0


def test_chamfer_and_visible_points():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 3))
    assert chamfer_distance(a, a) == 0.0
    assert chamfer_distance(a, a + [0.01, 0, 0]) == pytest.approx(0.02, rel=0.05)
    assert chamfer_distance(a, a[:0]) == float('inf')
    sphere = rng.normal(size=(2000, 3))
    sphere = 0.05 * sphere / np.linalg.norm(sphere, axis=1, keepdims=True) + [0, 0, 0.5]
    seen = visible_points(sphere, 0.1)
    assert 0.35 * len(sphere) < len(seen) < 0.65 * len(sphere)
    assert (seen[:, 2] < 0.5 + 0.01).all()          # the near half of the sphere


def test_selection_thresholds():
    d_a = np.array([1.0, 2.0, 3.0, 10.0])
    d_g = np.array([0.001, 0.009, 0.002, 0.002])
    both = select(d_a, d_g)
    assert both.tau_appearance == pytest.approx(d_a.mean() + d_a.std())
    assert both.accepted.tolist() == [True, False, True, False]
    assert select(d_a, d_g, 'appearance').accepted.tolist() == [True, True, True, False]
    assert select(d_a, d_g, 'geometry').tau_appearance is None
    assert not select(np.ones(3), np.ones(3)).accepted.any()     # nothing below mu + 0
    with pytest.raises(ValueError, match='criterion'):
        select(d_a, d_g, 'vibes')


def test_calibrated_thresholds_reach_the_target_precision(tmp_path):
    rng = np.random.default_rng(0)
    d_g = rng.uniform(0.0, 0.01, 2000)
    d_a = rng.uniform(0.0, 1.0, 2000)
    correct = (d_g < 0.003) & (rng.uniform(size=2000) < 0.95)        # right when the depth fits, mostly
    cal = fit_thresholds(d_a, d_g, correct, target_precision=0.9)
    assert cal.precision >= 0.9 and 0.0025 < cal.tau_geometry_m < 0.0035 and cal.accepted_share > 0.2
    chosen = select(d_a, d_g, 'calibrated', cal)
    assert chosen.accepted.sum() == round(cal.accepted_share * 2000) and correct[chosen.accepted].mean() >= 0.9
    assert select(d_a, d_g).accepted.mean() > cal.accepted_share + 0.1   # mu + sigma accepts more, worse ones
    cal.save(tmp_path / 'cal.json')
    assert Calibration.load(tmp_path / 'cal.json') == cal
    (tmp_path / 'bad.json').write_text('{"tau_geometry_m": "x"}')
    with pytest.raises(DataFormatError, match='tau_geometry_m'):
        Calibration.load(tmp_path / 'bad.json')
    with pytest.raises(ValueError, match='needs a calibration'):
        select(d_a, d_g, 'calibrated')


def test_a_zero_threshold_is_a_threshold():
    """The rule the loop, the retrainer and the recorder share: tau = 0 accepts nothing (it once meant
    no threshold at all), tau = None applies no criterion."""
    d_a, d_g = np.array([0.0, 0.1]), np.array([0.0, 0.001])
    assert not passes(d_a, d_g, 0.0, 0.0).any()
    assert passes(d_a, d_g, None, None).all()
    assert passes(d_a, d_g, 0.05, None).tolist() == [True, False]
    # identical candidates: sigma = 0, tau = mu, and nothing is strictly below it
    assert not select(np.full(4, 0.2), np.full(4, 0.003)).accepted.any()


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    return small_synth_dataset(tmp_path_factory.mktemp('st') / 'syn', 'connector_block', width=240, seed=5)


@pytest.fixture(scope='module')
def real(tmp_path_factory):
    return small_synth_dataset(tmp_path_factory.mktemp('st') / 'real', 'connector_block', width=240, seed=6,
                               domain='real')


@pytest.fixture(scope='module')
def teacher(synthetic, tmp_path_factory):
    ckpt = tmp_path_factory.mktemp('teacher') / 'teacher.pt'
    train_pose(labels_from_bop(synthetic / 'train', OBJ.obj_id), ckpt, OBJ.name, CATALOG, CONFIG,
               PoseTrainConfig(epochs=1, batch_size=8), progress=False, log=lambda *_: None)
    return ckpt


def test_scores_prefer_the_true_pose(synthetic):
    scorer = PoseScorer(OBJ, PerceptualDistance('effnet-lite0'))
    frame = BopSplit(synthetic / 'test').frame(0, 0, with_masks=True)
    keep = [k for k, m in enumerate(frame.masks_visib) if m.sum() > 150]
    masks = [frame.masks_visib[k] for k in keep]
    true = [frame.gt[k].T_cam_obj for k in keep]
    wrong = []
    for T in true:
        W = T.copy()
        W[:3, :3] = T[:3, :3] @ axis_angle(np.array([1.0, 0.3, 0.2]), np.deg2rad(40))
        W[:3, 3] += [0.01, 0, 0]
        wrong.append(W)
    good = scorer.score(frame.rgb, frame.depth_m, frame.camera.K, masks, true)
    bad = scorer.score(frame.rgb, frame.depth_m, frame.camera.K, masks, wrong)
    assert len(good) == len(masks) > 0
    assert np.mean([g.d_mask < b.d_mask for g, b in zip(good, bad)]) >= 0.8
    assert np.mean([g.d_geo_m < b.d_geo_m for g, b in zip(good, bad)]) >= 0.8
    assert np.mean([g.d_appearance < b.d_appearance for g, b in zip(good, bad)]) >= 0.6
    assert scorer.description['perceptual'] == 'effnet-lite0'


def _masks_of(real, out, split: BopSplit | None = None) -> MaskStore:
    """A mask store holding the visible masks of the real train frames (or of ``split``): the test's
    stand-in for segmentation output (data, copied before the loop starts watching)."""
    store = MaskStore(out)
    split = split or BopSplit(real / 'train', real / 'gt_eval_only' / 'train')
    for scene_id in split.scene_ids():
        for frame in split.frames(scene_id, with_masks=True):
            names = [f'{frame.im_id:06d}_{k:06d}.png' for k, m in enumerate(frame.masks_visib) if m.sum() > 100]
            scene_dir = store.root / f'{scene_id:06d}'
            scene_dir.mkdir(parents=True, exist_ok=True)
            for name in names:
                shutil.copy(split.gt_root / f'{scene_id:06d}' / 'mask_visib' / name, scene_dir / name)
            atomic.write_json(scene_dir / f'{frame.im_id:06d}.json', {'masks': names})
    return store


@pytest.mark.slow
def test_self_training_runs_resumes_and_never_opens_ground_truth(teacher, real, tmp_path):
    store = _masks_of(real, tmp_path / 'masks')
    config = SelfTrainConfig(iterations=1, student_epochs=1, batch_size=8, perceptual='effnet-lite0')
    OPENED.clear()
    _WATCH[0] = True
    try:
        records = self_train(teacher, real, tmp_path / 'run', store, config, CATALOG, progress=False,
                             log=lambda *_: None)
    finally:
        _WATCH[0] = False
    assert OPENED, 'the audit hook saw no file at all'
    assert not [p for p in OPENED if 'gt_eval_only' in p or 'scene_gt' in p]
    assert records[0]['accepted'] > 0 and records[0]['perceptual'] == 'effnet-lite0'
    student = tmp_path / 'run' / 'iter_01' / 'student.pt'
    assert checkpoint.load(student, 'pose', {OBJ.name: OBJ.fingerprint})['config']['object_name'] == OBJ.name
    before = (tmp_path / 'run' / 'iter_01' / 'record.json').read_bytes()
    more = self_train(teacher, real, tmp_path / 'run', store, SelfTrainConfig(**{**config.__dict__, 'iterations': 2}),
                      CATALOG, progress=False, log=lambda *_: None)
    assert [r['iteration'] for r in more] == [1, 2]
    assert (tmp_path / 'run' / 'iter_01' / 'record.json').read_bytes() == before   # reused, not redone
    assert more[1]['teacher'] == str(student)
    with pytest.raises(SelfTrainError, match='other settings'):
        self_train(teacher, real, tmp_path / 'run', store, SelfTrainConfig(criterion='geometry'), CATALOG,
                   progress=False)


def test_mix_labels_draws_the_synthetic_share_without_repeats():
    pseudo, synthetic = list(range(30)), [f's{k}' for k in range(100)]
    mixed = mix_labels(pseudo, synthetic, 0.5, seed=1)
    assert mixed[:30] == pseudo and len(mixed) == 60 and len(set(mixed[30:])) == 30
    assert mixed == mix_labels(pseudo, synthetic, 0.5, seed=1) != mix_labels(pseudo, synthetic, 0.5, seed=2)
    assert len(mix_labels(pseudo, synthetic, 0.25, seed=1)) == 40
    assert len(mix_labels(pseudo, synthetic[:5], 0.5, seed=1)) == 35      # as far as they go
    assert mix_labels(pseudo, synthetic, 0.0, seed=1) == pseudo


def test_students_mix_in_synthetic_ground_truth(teacher, real, synthetic, tmp_path):
    store = _masks_of(real, tmp_path / 'masks')
    config = SelfTrainConfig(iterations=1, student_epochs=1, batch_size=8, perceptual='effnet-lite0',
                             synthetic_share=0.5, synthetic=str(synthetic))
    record = self_train(teacher, real, tmp_path / 'run', store, config, CATALOG, progress=False,
                        log=lambda *_: None)[0]
    assert record['accepted'] > 0 and record['synthetic_labels'] == record['accepted']
    with pytest.raises(SelfTrainError, match='needs a labelled synthetic split'):
        self_train(teacher, real, tmp_path / 'other', store, SelfTrainConfig(synthetic_share=0.5), CATALOG,
                   progress=False)
    with pytest.raises(SelfTrainError, match='no ground-truth labels'):
        self_train(teacher, real, tmp_path / 'other', store, SelfTrainConfig(synthetic_share=0.5, synthetic=str(real)),
                   CATALOG, progress=False)


def test_calibration_is_fitted_on_the_teachers_synthetic_candidates(teacher, synthetic, tmp_path):
    from binpick.perception.pose.estimator import PoseEstimator
    from binpick.selftrain.calibration import calibrate
    split = BopSplit(synthetic / 'train')    # any split with ground truth: this one has enough instances
    store = _masks_of(None, tmp_path / 'masks', split)
    scorer = PoseScorer(OBJ, PerceptualDistance('effnet-lite0'))
    cal, correct_share = calibrate(PoseEstimator.load(teacher, CATALOG), scorer, split, store, 0.9, 'test',
                                   min_accepted=5)
    assert cal.candidates == sum(len(json.loads(p.read_text())['masks']) for p in store.root.glob('*/*.json'))
    assert 0.0 <= correct_share <= 1.0 and cal.target_precision == 0.9 and cal.source == 'test'
    # what it reports is what its thresholds do on those candidates: at least as precise as all of them
    assert cal.precision >= correct_share - 1e-9 and 0.0 < cal.accepted_share <= 1.0


def test_refuses_ground_truth_in_the_unlabeled_folder(synthetic):
    with pytest.raises(SelfTrainError, match='holds ground truth'):
        unlabeled_split(synthetic / 'train')


def test_zero_accepted_labels_stop_with_a_clear_message(teacher, real, tmp_path):
    store = _masks_of(real, tmp_path / 'masks')
    only = tmp_path / 'one'                          # a single candidate: nothing is below mu + 0
    index = sorted(store.root.glob('*/*.json'))
    for path in index:
        atomic.write_json(path, {'masks': []})
    first = index[0]
    names = sorted(p.name for p in first.parent.glob(f'{first.stem}_*.png'))
    atomic.write_json(first, {'masks': names[:1]})
    with pytest.raises(SelfTrainError, match='no pseudo label accepted out of 1 candidates'):
        self_train(teacher, real, only, store, SelfTrainConfig(iterations=1, perceptual='effnet-lite0'), CATALOG,
                   progress=False, log=lambda *_: None)
    assert not (only / 'iter_01' / 'student.pt').exists()


def test_teacher_for_another_object_is_refused(teacher, tmp_path):
    from binpick.perception.pose.estimator import PoseEstimator
    with pytest.raises(checkpoint.CheckpointError, match='connector_block'):
        PoseEstimator.load(teacher, CATALOG, 'zigzag_bracket')


def test_report_tables_and_plots(tmp_path):
    from binpick.selftrain.report import gap_closed, summary, write_report
    rec = lambda it, recall, acc: {'iteration': it, 'accepted': acc, 'candidates': 100, 'tau_appearance': 0.5,  # noqa: E731
                                   'tau_geometry_m': 0.004, 'perceptual': 'effnet-lite0', 'geometry': 'visible',
                                   'evaluation': {'recall': recall, 'precision_accepted': 0.9,
                                                  'precision_all': 0.5}}
    results = {'object': 'zigzag_bracket', 'metric': 'ADD', 'recall_lb': 0.4, 'recall_ub': 0.8,
               'selftrain': {'both': [rec(1, 0.5, 30), rec(2, 0.7, 40)], 'geometry': [rec(1, 0.45, 50)],
                             'calibrated': [rec(1, 0.6, 20), rec(2, 0.75, 25)]}}
    write_report(results, tmp_path)
    md = (tmp_path / 'report.md').read_text()
    assert '| self-training, d_a and d_g (paper) | 2 | 70.0 | 75.0 % |' in md
    assert '| self-training, d_a and d_g (paper) | 1 | 50.0 | 25.0 % |' in md     # beside d_g only at 1
    assert '| self-training, d_g only | 1 | 45.0 | 12.5 % |' in md
    assert '| self-training, thresholds calibrated on synthetic data (beyond the paper) | 2 | 75.0 | 87.5 % |' in md
    assert '| geometry | 1 | 50 / 100 | 0.500 | 4.00 | 90.0 | 50.0 | 45.0 |' in md
    assert (tmp_path / 'recall_per_iteration.png').stat().st_size > 1000
    assert (tmp_path / 'pseudo_labels.png').stat().st_size > 1000
    assert gap_closed(0.6, 0.4, 0.4) != gap_closed(0.6, 0.4, 0.4)      # nan when there is no gap
    assert summary(results)['gap_closed'] == {'both': pytest.approx(0.75), 'geometry': pytest.approx(0.125),
                                              'calibrated': pytest.approx(0.875)}
    no_gap = summary({**results, 'recall_ub': 0.4})                     # results.json: null, not NaN
    assert json.loads(json.dumps(no_gap, allow_nan=False))['gap_closed'] == dict.fromkeys(no_gap['gap_closed'])


def test_pseudo_label_precision_against_ground_truth(real):
    from binpick.data.bank import Candidate
    from binpick.selftrain.experiment import pseudo_label_precision
    split = BopSplit(real / 'train', real / 'gt_eval_only' / 'train')
    gt = split.frame(0, 0).gt
    T_true = gt[0].T_cam_obj
    T_far = T_true.copy()
    T_far[:3, 3] += [0.5, 0, 0]
    cands = [Candidate(0, 0, '', T.tolist(), 1.0, 0, 0, 0, 0) for T in (T_true, T_far, T_true)]
    out = pseudo_label_precision(cands, np.array([True, True, False]), split, OBJ, OBJ.sample_points(300))
    assert out['precision_accepted'] == 0.5 and out['precision_rejected'] == 1.0
    assert out['precision_all'] == pytest.approx(2 / 3) and out['correct_accepted'] == 1


def test_cli_refuses_labelled_folders(synthetic, teacher, tmp_path, capsys):
    from binpick.cli import main
    code = main(['selftrain', '--teacher', str(teacher), '--unlabeled', str(synthetic / 'train'),
                 '--seg-ckpt', str(tmp_path / 'none.pt'), '--out', str(tmp_path / 'run')])
    assert code == 1 and 'holds ground truth' in capsys.readouterr().err
    assert not (tmp_path / 'run').exists()


def test_visible_masks_of_verified_poses_follow_the_z_buffer_and_the_observed_depth():
    from binpick.selftrain.mask_labels import MaskLabelConfig, visible_masks
    from binpick.sim.object_renderer import Rendering

    def part(x0, x1, z_m):
        mask = np.zeros((40, 40), bool)
        mask[10:30, x0:x1] = True
        return Rendering(np.zeros((40, 40, 3), np.uint8), np.where(mask, z_m, 0.0).astype(np.float32), mask)
    far, near = part(5, 25, 0.60), part(20, 35, 0.55)         # overlap in columns 20-24, `near` in front
    observed = np.where(near.mask, 0.55, np.where(far.mask, 0.60, 0.0)).astype(np.float32)   # what the camera sees
    observed[10:30, 5:10] = 0.50          # an unlabelled part 5 cm in front of `far` over columns 5-9
    config = MaskLabelConfig(min_visible_px=10)
    (m_far, m_near), reasons = visible_masks([far, near], observed, config)
    assert reasons == ['', '']
    assert m_near.sum() == near.mask.sum()                                  # nothing hides it
    assert not m_far[:, 20:25].any() and not m_far[:, 5:10].any()           # hidden by `near` and by the depth
    assert m_far[10:30, 10:20].all() and m_far.sum() == 20 * 10
    masks, reasons = visible_masks([far], np.zeros((40, 40), np.float32), config)
    assert masks == [None] and reasons == ['no observed depth']             # a label the camera never saw


@pytest.mark.slow
def test_joint_self_training_fine_tunes_the_segmentation_on_rendered_labels(teacher, real, cell_models, tmp_path):
    store = _masks_of(real, tmp_path / 'masks')
    config = SelfTrainConfig(iterations=1, student_epochs=1, batch_size=8, perceptual='effnet-lite0',
                             segmentation=True, seg_epochs=1, seg_iters_per_epoch=2)
    with pytest.raises(SelfTrainError, match='needs the segmentation'):
        self_train(teacher, real, tmp_path / 'run', store, config, CATALOG, progress=False)
    with pytest.raises(SelfTrainError, match='not for connector_block'):
        self_train(teacher, real, tmp_path / 'run', store, config, CATALOG, progress=False,
                   seg_ckpt='models/demo/hex_nut_seg.pt')
    record = self_train(teacher, real, tmp_path / 'run', store, config, CATALOG, progress=False,
                        log=lambda *_: None, seg_ckpt=cell_models['seg'])[0]
    labels = record['mask_labels']
    assert labels['verified'] > 0 and labels['frames'] == len(list((real / 'train').glob('[0-9]*')))
    it = tmp_path / 'run' / 'iter_01'
    assert checkpoint.load(it / 'seg.pt', 'segmentation')['config']['object_names'] == [OBJ.name]
    assert MaskStore(it / 'masks').has(0, 0)               # the next iteration labels with the new masks
    split = BopSplit(real / 'train', it / 'seg_labels')     # the labels read as a BOP split's ground truth
    frame = split.frame(0, 0, with_masks=True)
    assert frame.masks_visib and all(m.any() for m in frame.masks_visib)
