"""binpick selftrain | experiment."""
from __future__ import annotations

import argparse
from pathlib import Path

from binpick.commands.args import positive, set_threads
from binpick.selftrain import PERCEPTUAL_BACKENDS
from binpick.selftrain.selection import CRITERIA


def _cmd_selftrain_bag(args: argparse.Namespace) -> int:
    """Bank a recorded bag through the recorder's scoring, then run the retrainer's job on that bank."""
    from binpick.catalog import Catalog
    from binpick.data.bank import PseudoLabelBank
    from binpick.perception.model_registry import ModelRegistry
    from binpick.perception.pose.estimator import PoseEstimator
    from binpick.perception.segmentation import Segmenter
    from binpick.selftrain.online import JobConfig, bank_bag, run_job
    from binpick.selftrain.perceptual import PerceptualDistance
    from binpick.selftrain.scores import PoseScorer
    catalog = Catalog()
    teacher = PoseEstimator.load(args.teacher, catalog)
    obj = catalog.get(teacher.config.object_name)
    out = Path(args.out)
    scorer = PoseScorer(obj, PerceptualDistance(args.perceptual), args.geometry)
    bank = PseudoLabelBank(out / 'bank', obj.name, scorer=scorer.description)
    n = bank_bag(args.bag, bank, Segmenter.load(args.seg_ckpt, catalog, score_threshold=args.score_threshold), teacher,
                 scorer, namespace=args.namespace)
    print(f'{args.bag}: {n} frames banked in {bank.root} ({len(bank.frame_ids())} in the bank)')
    result = run_job(bank, ModelRegistry(out / 'models', args.teacher), scorer, out / 'jobs',
                     JobConfig(iterations=args.iterations, student_epochs=args.student_epochs,
                               student_lr=args.student_lr, criterion=args.criterion), catalog)
    print(result.message)
    for k, v in result.metrics.items():
        print(f'  {k}: {v:.4g}' if isinstance(v, float) else f'  {k}: {v}')
    print(f'model in service: v{result.model.version} {result.model.path}')
    return 0 if result.success else 1


def _cmd_calibrate(args: argparse.Namespace) -> int:
    """Label a synthetic split with the teacher, mark each candidate right or wrong with its ground truth,
    and fit the thresholds that accept the most at the target precision."""
    import tempfile

    from binpick.catalog import Catalog
    from binpick.data.bop import BopSplit
    from binpick.perception.mask_store import MaskStore
    from binpick.perception.pose.estimator import PoseEstimator
    from binpick.perception.segmentation import Segmenter
    from binpick.selftrain.calibration import calibrate
    from binpick.selftrain.perceptual import PerceptualDistance
    from binpick.selftrain.scores import PoseScorer
    set_threads(args.threads)
    catalog = Catalog()
    teacher = PoseEstimator.load(args.teacher, catalog)
    obj = catalog.get(teacher.config.object_name)
    split = BopSplit(Path(args.data) / 'test')
    with tempfile.TemporaryDirectory() as tmp:
        store = MaskStore(tmp)
        store.fill(split, Segmenter.load(args.seg_ckpt, catalog), obj.name)
        calibration, correct_share = calibrate(teacher, PoseScorer(obj, PerceptualDistance(args.perceptual)), split,
                                               store, args.target_precision, f'{split.root}, teacher {args.teacher}')
    calibration.save(args.out)
    tau_a = 'not used' if calibration.tau_appearance is None else f'{calibration.tau_appearance:.4f}'
    print(f'{calibration.candidates} candidates, {100 * correct_share:.1f} % correct; tau_a {tau_a}, tau_g '
          f'{1000 * calibration.tau_geometry_m:.2f} mm accept {100 * calibration.accepted_share:.1f} % at precision '
          f'{100 * calibration.precision:.1f} % (target {100 * args.target_precision:.0f} %); written to {args.out}')
    return 0


def _cmd_selftrain(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    from binpick.data.bop import BopSplit
    from binpick.perception.mask_store import MaskStore
    from binpick.perception.pose.estimator import PoseEstimator
    from binpick.perception.segmentation import Segmenter
    from binpick.selftrain.loop import SelfTrainConfig, self_train, unlabeled_split
    set_threads(args.threads)
    if args.bag and args.criterion == 'calibrated':
        from binpick.errors import BinpickError
        raise BinpickError('--criterion calibrated is for --unlabeled runs; a bag goes through the retrainer\'s job, '
                           'which selects with mu + sigma')
    if args.bag:
        return _cmd_selftrain_bag(args)
    catalog = Catalog()
    split_dir = unlabeled_split(args.unlabeled)                 # refuses ground truth before any work
    obj = catalog.get(PoseEstimator.load(args.teacher, catalog).config.object_name)
    masks = MaskStore(Path(args.out) / 'masks')
    masks.fill(BopSplit(split_dir), Segmenter.load(args.seg_ckpt, catalog), obj.name)
    config = SelfTrainConfig(iterations=args.iterations, criterion=args.criterion,
                             calibration=str(Path(args.calibration).resolve()) if args.calibration else '',
                             geometry=args.geometry,
                             perceptual=args.perceptual, student_epochs=args.student_epochs,
                             student_lr=args.student_lr, seed=args.seed, synthetic_share=args.synthetic_share,
                             synthetic=str(Path(args.synthetic).resolve()) if args.synthetic else '',
                             segmentation=args.segmentation)
    records = self_train(args.teacher, split_dir, args.out, masks, config, catalog, seg_ckpt=args.seg_ckpt)
    for r in records:
        seg = f', segmentation -> {r["seg_student"]}' if 'seg_student' in r else ''
        print(f'iteration {r["iteration"]}: {r["accepted"]} / {r["candidates"]} accepted -> {r["student"]}{seg}')
    print(f'final model: {records[-1]["student"]}')
    return 0


def _cmd_experiment(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from binpick.selftrain.experiment import ExperimentConfig, run_experiment
    from binpick.selftrain.report import gap_closed
    set_threads(args.threads)
    config = ExperimentConfig.quick(args.object) if args.quick else ExperimentConfig(args.object)
    selftrain = replace(config.selftrain, **{k: v for k, v in (('iterations', args.iterations),
                                                                 ('student_epochs', args.student_epochs),
                                                                 ('synthetic_share', args.synthetic_share)) if v})
    config = replace(config, selftrain=selftrain,
                     ablation_iterations=args.ablation_iterations or config.ablation_iterations)
    opt = lambda v: Path(v) if v else None  # noqa: E731
    out = Path(args.out or f'results/experiment_{args.object}{"_quick" if args.quick else ""}')
    results = run_experiment(out, config, syn=opt(args.syn), real=opt(args.real), seg=opt(args.seg_ckpt),
                             lb=opt(args.lb), ub=opt(args.ub), workers=args.workers)
    both = results['selftrain'].get('both')
    print((out / 'report.md').read_text().split('\n## ')[0])
    if both:
        closed = gap_closed(both[-1]['evaluation']['recall'], results['recall_lb'], results['recall_ub'])
        print('gap closed: ' + ('n/a (UB is not above LB)' if closed != closed else f'{100 * closed:.1f} %'))
    print(f'report: {out / "report.md"}')
    return 0


def register(sub) -> None:
    p = sub.add_parser('selftrain', help='iterative self-training of a pose model on unlabeled frames')
    p.add_argument('--teacher', required=True, help='pose checkpoint trained on synthetic data')
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument('--unlabeled', help='folder of unlabeled frames (BOP split, or a real-emulated dataset: its '
                        'train split)')
    source.add_argument('--bag', help='rosbag2 bag of camera frames (binpick record): banked like the cell\'s '
                        'recorder does, then one retrainer job (OUT/bank, OUT/models)')
    p.add_argument('--namespace', default='/camera', help='camera namespace in the bag (with --bag)')
    p.add_argument('--score-threshold', type=float, default=0.5, help='segmentation score threshold (with --bag)')
    p.add_argument('--seg-ckpt', required=True, help='segmentation checkpoint for the instance masks')
    p.add_argument('--out', required=True, help='run folder (resumable)')
    p.add_argument('--iterations', type=positive, default=5)
    p.add_argument('--criterion', choices=list(CRITERIA), default='both',
                   help="both (the paper's mu + sigma on d_a and d_g), appearance, geometry, or calibrated: the "
                   'fixed thresholds of --calibration')
    p.add_argument('--calibration', help='with --criterion calibrated: JSON written by binpick calibrate-selection')
    p.add_argument('--geometry', choices=['visible', 'whole'], default='visible',
                   help='d_g against the visible model surface (paper) or the whole model (authors\' code)')
    p.add_argument('--perceptual', choices=PERCEPTUAL_BACKENDS, default='auto')
    p.add_argument('--student-epochs', type=positive, default=4)
    p.add_argument('--student-lr', type=float, default=1e-4)
    p.add_argument('--synthetic', help='labelled synthetic dataset (or split) whose ground truth students mix in')
    p.add_argument('--synthetic-share', type=float, default=0.0,
                   help='share of each student\'s labels drawn from --synthetic (beyond the paper; 0: none)')
    p.add_argument('--segmentation', action='store_true',
                   help='joint self-training: the accepted poses, rendered, also fine-tune the segmentation, and '
                   'each iteration labels with the new one (with --unlabeled)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=positive)
    p.set_defaults(func=_cmd_selftrain)

    p = sub.add_parser('calibrate-selection', help='fit pseudo-label thresholds at a target precision on a '
                       'synthetic split with ground truth (for selftrain --criterion calibrated)')
    p.add_argument('--teacher', required=True, help='pose checkpoint whose labels are to be selected')
    p.add_argument('--data', required=True, help='synthetic binpick synth dataset (its test split is used)')
    p.add_argument('--seg-ckpt', required=True, help='segmentation checkpoint for the instance masks')
    p.add_argument('--out', required=True, help='calibration JSON to write')
    p.add_argument('--target-precision', type=float, default=0.9)
    p.add_argument('--perceptual', choices=PERCEPTUAL_BACKENDS, default='auto')
    p.add_argument('--threads', type=positive)
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser('experiment', help='LB, self-training (both criteria and each alone), UB: report')
    p.add_argument('--object', default='zigzag_bracket')
    p.add_argument('--out', help='folder (default results/experiment_OBJECT[_quick])')
    p.add_argument('--quick', action='store_true', help='tiny sizes: a smoke run in minutes')
    p.add_argument('--syn', help='reuse this synthetic dataset')
    p.add_argument('--real', help='reuse this real-emulated dataset')
    p.add_argument('--seg-ckpt', help='reuse this segmentation checkpoint')
    p.add_argument('--lb', help='reuse this LB pose checkpoint')
    p.add_argument('--ub', help='reuse this UB pose checkpoint')
    p.add_argument('--iterations', type=positive, help='self-training iterations (default 5; quick 2)')
    p.add_argument('--ablation-iterations', type=positive,
                   help='iterations of the d_a-only and d_g-only runs (default: as many as --iterations)')
    p.add_argument('--student-epochs', type=positive, help='epochs per student (default 4; quick 1)')
    p.add_argument('--synthetic-share', type=float,
                   help='share of each student\'s labels that are synthetic ground truth (beyond the paper; default 0)')
    p.add_argument('--workers', type=positive, default=2)
    p.add_argument('--threads', type=positive)
    p.set_defaults(func=_cmd_experiment)
