"""binpick train-seg | eval-seg."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from binpick.commands.args import positive, refuse_eval_gt, set_threads, split_dirs
from binpick.errors import BinpickError


def _dataset_objects(data_dirs: list[str], catalog) -> list[str]:
    """Object names of ``binpick synth`` datasets (from their dataset_info.json)."""
    from binpick.data.jsonfields import field, load_json
    names = []
    for d in data_dirs:
        path = Path(d) / 'dataset_info.json'
        name = field(load_json(path), 'object_name', path, '')
        catalog.get(name)
        if name not in names:
            names.append(name)
    return names


def _cmd_train_seg(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    from binpick.data.bop import eval_gt_dir
    from binpick.evaluation.segmentation_eval import evaluate_split
    from binpick.perception.seg_model import SegConfig
    from binpick.perception.seg_train import SegTrainConfig, label_map, train_segmentation
    from binpick.perception.segmentation import ANY_PART
    set_threads(args.threads)
    catalog = Catalog()
    if args.class_agnostic and args.objects:
        raise BinpickError('--class-agnostic trains one class for every part: give no --objects')
    if args.depth and not args.class_agnostic:
        raise BinpickError('--depth is for --class-agnostic models (the cell\'s catalog-part segmentation reads RGB)')
    names = [ANY_PART] if args.class_agnostic else args.objects or _dataset_objects(args.data, catalog)
    train = SegTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           max_iters_per_epoch=args.max_iters_per_epoch, seed=args.seed,
                           copy_paste_prob=args.copy_paste)
    val = Path(args.val) if args.val else Path(args.data[0]) / 'test'
    labels = label_map(catalog, names)

    def validate(segmenter) -> dict:
        metrics = evaluate_split(segmenter, val, labels, eval_gt_dir(val), args.val_images)
        return {k: metrics[k] for k in ('AP', 'AP50')}
    config = SegConfig(object_names=names, depth_input=args.depth).at_size(args.min_size)
    # a model for catalog parts sees the real-emulated ground truth only as the upper bound (--use-eval-gt);
    # shape bins made to train a class-agnostic model are training data in both domains
    splits, gts = split_dirs(args.data, 'train')
    refuse_eval_gt(splits, gts, args.class_agnostic or args.use_eval_gt)
    state = train_segmentation(splits, Path(args.out), names, catalog, config, train,
                               validate=validate if val.is_dir() and args.val_images > 0 else None,
                               resume=args.resume, init=Path(args.init) if args.init else None, gt_dirs=gts)
    what = 'every part (class-agnostic)' if args.class_agnostic else ', '.join(names)
    print(f'model for {what} written to {args.out} after {state.epoch} epoch(s)')
    return 0


def _cmd_eval_seg(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    from binpick.data.bop import eval_gt_dir
    from binpick.evaluation.segmentation_eval import evaluate_split
    from binpick.perception.seg_train import label_map
    from binpick.perception.segmentation import Segmenter
    set_threads(args.threads)
    catalog = Catalog()
    segmenter = Segmenter.load(args.ckpt, catalog, score_threshold=args.score_threshold, input_size_px=args.input_size)
    if args.mask_threshold is not None:
        segmenter.config = replace(segmenter.config, mask_threshold=args.mask_threshold)
    split_dir = Path(args.data) / args.split
    metrics = evaluate_split(segmenter, split_dir, label_map(catalog, segmenter.config.object_names),
                             eval_gt_dir(split_dir), args.max_images, args.min_visib_fract,
                             progress=True)
    print(f'{split_dir}: mask AP {metrics["AP"]:.3f}, AP50 {metrics["AP50"]:.3f}, AP75 {metrics["AP75"]:.3f} '
          f'over {int(metrics["images"])} images, {metrics["ms_per_image"]:.0f} ms per image '
          f'(instances less than {args.min_visib_fract:.0%} visible ignored)')
    if args.json:
        from binpick.data import atomic
        atomic.write_json(args.json, {'ckpt': str(args.ckpt), 'data': str(split_dir), **metrics})
    return 0


def register(sub) -> None:
    p = sub.add_parser('train-seg', help='train the instance segmentation model on synthetic bins')
    p.add_argument('--data', nargs='+', required=True, help='binpick synth dataset folder(s); their train/ is used')
    p.add_argument('--out', required=True, help='checkpoint to write (rewritten during training)')
    p.add_argument('--objects', nargs='+', help='object names (default: from the datasets)')
    p.add_argument('--class-agnostic', action='store_true', help='one class for every part of the data (for parts '
                   'nobody registered: binpick synth-shapes data; eval-uois and pick-bench --uois read the model)')
    p.add_argument('--val', help='split folder validated after each epoch (default: DATA/test)')
    p.add_argument('--epochs', type=positive, default=6)
    p.add_argument('--batch-size', type=positive, default=2)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--max-iters-per-epoch', type=positive)
    p.add_argument('--val-images', type=int, default=20)
    p.add_argument('--copy-paste', type=float, default=0.5, help='probability of copy-paste per sample')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=positive, help='torch threads (default: all cores)')
    p.add_argument('--resume', action='store_true', help='continue from the checkpoint at --out')
    p.add_argument('--min-size', type=positive, default=480, metavar='PX',
                   help='images are resized so their short side has PX pixels (long side at most 4/3 of '
                        'it), in training and in use (default 480: the cell camera\'s 640x480 as it comes; '
                        '720 makes thin parts wider for the mask head at about 2.5 times the compute)')
    p.add_argument('--init', metavar='CKPT', help='start from the weights of this checkpoint (fresh schedule)')
    p.add_argument('--depth', action='store_true', help='with --class-agnostic: RGB-D, the depth relief as a fourth '
                   'input channel (an RGB --init model starts it with the depth unused)')
    p.add_argument('--use-eval-gt', action='store_true',
                   help='train on a real-emulated train split\'s evaluation ground truth (the upper bound only)')
    p.set_defaults(func=_cmd_train_seg)

    p = sub.add_parser('eval-seg', help='mask AP / AP50 of a segmentation model on a BOP split')
    p.add_argument('--ckpt', required=True)
    p.add_argument('--data', required=True, help='dataset folder')
    p.add_argument('--split', default='test')
    p.add_argument('--max-images', type=positive)
    p.add_argument('--score-threshold', type=float, default=0.05, help='low for AP (default 0.05)')
    p.add_argument('--mask-threshold', type=float,
                   help='mask probability a pixel needs (default: the checkpoint\'s, 0.5 unless set when shipped)')
    p.add_argument('--input-size', type=positive, metavar='PX', help='resize frames so their short side is this '
                   '(default: the size the model was trained at; the cell uses its input_size_px parameter)')
    p.add_argument('--min-visib-fract', type=float, default=0.1,
                   help='ground-truth instances less visible than this are ignored, neither missed nor '
                        'matched (default 0.1, as BOP)')
    p.add_argument('--json', help='also write the figures to this JSON file')
    p.add_argument('--threads', type=positive)
    p.set_defaults(func=_cmd_eval_seg)
