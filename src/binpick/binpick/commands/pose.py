"""binpick train-pose | eval-pose."""
from __future__ import annotations

import argparse
from pathlib import Path

from binpick.commands.args import positive, refuse_eval_gt, set_threads
from binpick.evaluation.rules import DEFAULT_RULE, RULES


def _cmd_train_pose(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    from binpick.data.bop import eval_gt_dir
    from binpick.perception.pose.labels import labels_from_bop
    from binpick.perception.pose.network import PoseNetConfig
    from binpick.perception.pose.train import PoseTrainConfig, train_pose
    set_threads(args.threads)
    catalog = Catalog()
    obj = catalog.get(args.object)
    data = Path(args.data)
    gt_dir = eval_gt_dir(data / 'train')
    refuse_eval_gt([data / 'train'], [gt_dir], args.use_eval_gt)
    labels = labels_from_bop(data / 'train', obj.obj_id, gt_dir)
    from binpick.evaluation.pose_eval import evaluate_pose
    from binpick.perception.pose.estimator import PoseEstimator

    def validate(net):
        ev = evaluate_pose(PoseEstimator(net), data / 'test', obj, max_images=args.val_images)
        return {'val_recall_gt_masks': ev.report.mean}
    use_validation = args.val_images > 0 and (data / 'test').is_dir()
    train = PoseTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    print(f'{len(labels)} labelled instances of {obj.name} from {data / "train"}')
    state = train_pose(labels, Path(args.out), obj.name, catalog, PoseNetConfig(object_name=obj.name), train,
                       init=Path(args.init) if args.init else None, resume=args.resume,
                       validate=validate if use_validation else None)
    print(f'pose model written to {args.out} after {state.epoch} epoch(s)')
    return 0


def _cmd_eval_pose(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    from binpick.data import atomic
    from binpick.data.bop import eval_gt_dir
    from binpick.data.bop_results import write_results_csv
    from binpick.evaluation.pose_eval import evaluate_pose, segmenter_masks
    from binpick.perception.pose.estimator import DEFAULT_HYPOTHESES, PoseEstimator
    set_threads(args.threads)
    catalog = Catalog()
    estimator = PoseEstimator.load(args.ckpt, catalog, inference=args.inference,
                                   hypotheses=args.hypotheses or DEFAULT_HYPOTHESES, points=args.points)
    obj = catalog.get(estimator.config.object_name)
    segmenter = None
    if args.masks == 'predicted':
        if not args.seg_ckpt:
            from binpick.errors import BinpickError
            raise BinpickError('--masks predicted needs --seg-ckpt (a binpick train-seg checkpoint)')
        from binpick.perception.segmentation import Segmenter
        segmenter = Segmenter.load(args.seg_ckpt, catalog)
    split_dir = Path(args.data) / args.split
    ev = evaluate_pose(estimator, split_dir, obj, eval_gt_dir(split_dir),
                       segmenter_masks(segmenter, obj) if segmenter else None, args.max_images, rule=args.rule,
                       progress=True)
    metric = 'ADD-S' if obj.info.is_symmetric else 'ADD'
    n_ok, n_all = ev.report.correct.get(obj.obj_id, 0), ev.report.total.get(obj.obj_id, 0)
    table = (f'| object | metric | rule | masks, inference | recall | correct / instances | ms per instance |\n'
             f'| --- | --- | --- | --- | --- | --- | --- |\n'
             f'| {obj.name} | {metric} < 0.1 d | {args.rule} | {args.masks}, {args.inference} | '
             f'{100 * ev.report.mean:.1f} % | {n_ok} / {n_all} | '
             f'{ev.ms_per_instance:.1f} |\n')
    print(table, end='')
    if ev.skipped:
        print('skipped instances: ' + ', '.join(f'{v} x {k}' for k, v in ev.skipped.items()))
    if args.csv:
        write_results_csv(args.csv, ev.estimates)
    if args.md:
        atomic.write_text(args.md, f'{split_dir}, {args.ckpt}\n\n' + table)
    return 0


def register(sub) -> None:
    p = sub.add_parser('train-pose', help='train the 6D pose network on a BOP dataset with labels')
    p.add_argument('--object', required=True)
    p.add_argument('--data', required=True, help='binpick synth dataset (its train split is used)')
    p.add_argument('--out', required=True, help='checkpoint to write (rewritten during training)')
    p.add_argument('--init', help='start from this pose checkpoint (e.g. the teacher)')
    p.add_argument('--use-eval-gt', action='store_true',
                   help='real-emulated data: train on its evaluation ground truth (the upper bound only)')
    p.add_argument('--epochs', type=positive, default=8)
    p.add_argument('--batch-size', type=positive, default=32)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--val-images', type=int, default=10, help='DATA/test images for validation per epoch')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=positive)
    p.add_argument('--resume', action='store_true')
    p.set_defaults(func=_cmd_train_pose)

    p = sub.add_parser('eval-pose', help='ADD(-S) recall of a pose model on a BOP split')
    p.add_argument('--ckpt', required=True)
    p.add_argument('--data', required=True)
    p.add_argument('--split', default='test')
    p.add_argument('--masks', choices=['gt', 'predicted'], default='predicted',
                   help='predicted: from --seg-ckpt (the real figure); gt: diagnosis only')
    p.add_argument('--seg-ckpt')
    p.add_argument('--max-images', type=positive)
    p.add_argument('--inference', choices=['net', 'icp', 'full'], default='full',
                   help='net: the network alone; icp: + ICP against the observed points; full (default, what the '
                   'cell runs): several anchors, each refined by ICP, the best match to the depth kept')
    p.add_argument('--hypotheses', type=positive,
                   help='most certain anchors tried per instance with --inference full (default: the estimator\'s, 5)')
    p.add_argument('--points', type=positive,
                   help='points sampled per instance (default: the checkpoint\'s; the cell: 384, config/nodes.yaml)')
    p.add_argument('--rule', choices=sorted(RULES), default=DEFAULT_RULE,
                   help='bop19 (default): targets at least 10 %% visible, only as many best-scored estimates per '
                   'image as targets; binpick: targets at least 30 %% visible, every estimate scored')
    p.add_argument('--csv', help='write the estimates as a BOP results CSV (time: seconds per image)')
    p.add_argument('--md', help='write the recall table as markdown')
    p.add_argument('--threads', type=positive)
    p.set_defaults(func=_cmd_eval_pose)
