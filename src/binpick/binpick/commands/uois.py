"""binpick train-uois / eval-uois: class-agnostic segmentation of parts nobody registered."""
from __future__ import annotations

import argparse
from pathlib import Path

from binpick.commands.args import positive, set_threads, split_dirs
from binpick.errors import BinpickError


def _validation(args: argparse.Namespace):
    if not args.val:
        return None
    from binpick.modelfree.uois_eval import evaluate
    splits, gts = split_dirs(args.val, 'test')

    def validate(segmenter) -> dict:
        figures = evaluate(lambda f: segmenter.segment(f.rgb, f.depth_m, f.camera.K), splits, gts, args.val_images)
        return {'val_f1': figures['f1'], 'val_AP50': figures['AP50']}
    return validate


def _cmd_train_uois(args: argparse.Namespace) -> int:
    from binpick.modelfree.ucn import UcnConfig
    from binpick.modelfree.uois_train import UoisTrainConfig, train_uois
    set_threads(args.threads)
    splits, gts = split_dirs(args.data, 'train')
    config = UcnConfig(input_scale=args.input_scale, branch_heads=args.branch_loss > 0)
    train = UoisTrainConfig(epochs=args.epochs, iterations_per_epoch=args.iterations, batch_size=args.batch_size,
                            lr=args.lr, branch_loss_weight=args.branch_loss, seed=args.seed)
    state = train_uois(splits, Path(args.out), gts, config, train, _validation(args), resume=args.resume,
                       init=Path(args.init) if args.init else None)
    print(f'{args.out}: {state.epoch} epoch(s) of {args.iterations} iterations')
    return 0


def _cmd_eval_uois(args: argparse.Namespace) -> int:
    from binpick.modelfree.mean_shift import Instance
    from binpick.modelfree.uois_eval import evaluate
    set_threads(args.threads)
    if bool(args.ckpt) == bool(args.baseline):
        raise BinpickError('give --ckpt MODEL or --baseline (the depth segmentation without learning)')
    if args.baseline:
        from binpick.modelfree.depth_segmentation import segment_by_depth

        def segment(frame):
            return [Instance(m, 1.0) for m in segment_by_depth(frame.depth_m, frame.camera.K)]
        name, clustering = 'baseline: masks by depth', None
    else:
        from dataclasses import asdict, replace

        from binpick.modelfree.uois import UoisSegmenter, load_segmenter
        segmenter = load_segmenter(args.ckpt, args.score_threshold)
        overrides = {k: v for k, v in (('kappa', args.kappa), ('merge_distance', args.merge_distance),
                                       ('foreground_threshold', args.foreground_threshold),
                                       ('min_pixels', args.min_pixels)) if v is not None}
        if isinstance(segmenter, UoisSegmenter):
            if args.mask_threshold is not None:
                raise BinpickError(f'{args.ckpt}: a UCN has no mask threshold (--foreground-threshold is its own)')
            segmenter.clustering = replace(segmenter.clustering, **overrides)
            clustering = asdict(segmenter.clustering)
        elif overrides:
            raise BinpickError(f'{args.ckpt}: a Mask R-CNN has no clustering ({", ".join(overrides)} given)')
        else:
            clustering = None
            if args.mask_threshold is not None:
                config = segmenter.segmenter.config
                segmenter.segmenter.config = replace(config, mask_threshold=args.mask_threshold)

        def segment(frame):
            return segmenter.segment(frame.rgb, frame.depth_m, frame.camera.K)
        name = str(args.ckpt) if clustering else (f'{args.ckpt} (instances scored >= {args.score_threshold}, '
                                                  f'mask probability >= {segmenter.segmenter.config.mask_threshold})')
    results = {'model': name, 'clustering': clustering, 'split': args.split, 'datasets': {}}
    for dataset in args.data:
        splits, gts = split_dirs([dataset], args.split)
        figures = evaluate(segment, splits, gts, args.max_images, progress=True)
        results['datasets'][dataset] = figures
        print(f'{dataset}/{args.split}: precision {figures["precision"]:.3f}, recall {figures["recall"]:.3f}, '
              f'F1 {figures["f1"]:.3f}, AP50 {figures["AP50"]:.3f} over {int(figures["images"])} images, '
              f'{figures["ms_per_image"]:.0f} ms per image')
    if len(args.data) > 1:
        f1s = [f['f1'] for f in results['datasets'].values()]
        results['mean_f1'] = sum(f1s) / len(f1s)
        print(f'mean F1 over {len(f1s)} datasets: {results["mean_f1"]:.3f} ({name})')
    if args.json:
        from binpick.data import atomic
        atomic.write_json(args.json, results)
    return 0


def register(sub) -> None:
    p = sub.add_parser('train-uois', help='train the class-agnostic (UCN) segmentation on binpick synth-shapes bins')
    p.add_argument('--data', nargs='+', required=True, help='dataset folder(s); their train/ split is used')
    p.add_argument('--out', required=True, help='checkpoint to write (rewritten during training)')
    p.add_argument('--val', nargs='*', default=[], help='dataset folder(s) whose test/ split is scored each epoch')
    p.add_argument('--val-images', type=int, default=10, help='validation frames per dataset (default 10)')
    p.add_argument('--epochs', type=positive, default=4)
    p.add_argument('--iterations', type=positive, default=500, help='iterations per epoch (default 500)')
    p.add_argument('--batch-size', type=positive, default=2)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--input-scale', type=float, default=0.75, help='frames are resized by this (default 0.75)')
    p.add_argument('--branch-loss', type=float, default=0.0, metavar='W',
                   help="weight of the report's per-branch loss terms (RGB and XYZ embeddings; 0: off)")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=positive, help='torch threads (default: all cores)')
    p.add_argument('--resume', action='store_true', help='continue from the checkpoint at --out')
    p.add_argument('--init', help='start from the weights of this checkpoint (e.g. models/demo/uois_shapes.pt)')
    p.set_defaults(func=_cmd_train_uois)

    p = sub.add_parser('eval-uois', help='object-level precision, recall, F1 (IoU >= 0.5) and mask AP50 of '
                       'class-agnostic segmentation')
    p.add_argument('--data', nargs='+', required=True, help='dataset folder(s), scored one by one')
    p.add_argument('--ckpt', help='binpick train-uois checkpoint, or a train-seg --class-agnostic one')
    p.add_argument('--baseline', action='store_true', help='score the non-learned depth segmentation instead')
    p.add_argument('--kappa', type=float, help='mean-shift concentration (default 20)')
    p.add_argument('--merge-distance', type=float, help='modes closer than this (1 - cos) merge (default 0.15)')
    p.add_argument('--foreground-threshold', type=float, help='foreground probability of a pixel (default 0.7)')
    p.add_argument('--min-pixels', type=int, help='smallest instance kept, frame pixels (default 250)')
    p.add_argument('--score-threshold', type=float, default=0.5,
                   help='a Mask R-CNN\'s instances scored below this are dropped (default 0.5)')
    p.add_argument('--mask-threshold', type=float,
                   help="the mask probability a Mask R-CNN's pixel needs (default: the checkpoint's)")
    p.add_argument('--split', default='test')
    p.add_argument('--max-images', type=int, help='frames per dataset, spread evenly (default: all)')
    p.add_argument('--json', help='also write the figures to this JSON file')
    p.add_argument('--threads', type=positive, help='torch threads (default: all cores)')
    p.set_defaults(func=_cmd_eval_uois)
