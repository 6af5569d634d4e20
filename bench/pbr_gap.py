"""The sim-to-real gap on the physically based cell (domain ``real_pbr``), one part, into ``results/pbr/``.

    .venv/bin/python bench/pbr_gap.py --object zigzag_bracket --work runs/pbr/zigzag_bracket \\
        --seg models/demo/zigzag_bracket_seg.pt --lb models/demo/zigzag_bracket_pose_lb.pt

``bash bench/pbr_gap.sh PART`` renders the dataset, trains the UB and runs this. WORK holds ``real_pbr/``
(``bench/pbr_data.sh``) and, for the UB rows, ``seg_ub.pt`` and ``pose_ub.pt``: both networks fine-tuned on
the real_pbr train split's ground truth, which is kept apart in ``gt_eval_only/`` and used for nothing else.

Rows, test split, BOP19 rule, ADD(-S) < 10 % of the diameter, 1 torch thread, the helpers of
``bench/teacher.py`` (so the figures are comparable with ``results/teacher``, the rasterized ``real`` cell):
mask AP50; the LB (the shipped models, trained on synthetic bins only) network alone and full path on
predicted masks; the LB on ground-truth masks; the UB of the whole path; the oracle (ICP from the
ground-truth pose); the classical peers on the same instances and masks.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from teacher import _mask_source, _oracle_row, _pose_row, peers_markdown  # bench/, this script's folder


def evaluate_part(args) -> dict:
    import torch

    from binpick.catalog import Catalog
    from binpick.evaluation.segmentation_eval import evaluate_checkpoint
    from binpick.perception.pose.estimator import PoseEstimator
    from binpick.perception.segmentation import Segmenter

    torch.set_num_threads(1)
    catalog = Catalog()
    obj = catalog.get(args.object)
    work = Path(args.work)
    test = work / 'real_pbr' / 'test'
    t0 = time.time()
    out: dict = {'object': obj.name, 'seg_ckpt': args.seg, 'lb_ckpt': args.lb, 'max_images': args.max_images}

    def ap50(ckpt: str) -> float:
        return round(evaluate_checkpoint(ckpt, test, catalog)['AP50'], 3)

    out['seg_ap50_real'] = ap50(args.seg)
    print(f'LB segmentation: mask AP50 {out["seg_ap50_real"]:.3f}', flush=True)
    lb_masks = _mask_source(work, args.seg, Segmenter.load(args.seg, catalog), test, obj.name, 'real_pbr')
    rows: dict = {}
    lb = {mode: PoseEstimator.load(args.lb, catalog, inference=mode) for mode in ('net', 'full')}
    for mode in ('net', 'full'):
        rows[f'lb_{mode}_real'] = _pose_row(lb[mode], test, obj, lb_masks, max_images=args.max_images)
        print(f'LB {mode}', rows[f'lb_{mode}_real'], flush=True)
    rows['lb_full_real_gt_masks'] = _pose_row(lb['full'], test, obj, None, max_images=args.max_images)
    rows['oracle_real'] = _oracle_row(test, obj, lb['full'].config, args.max_images)
    print('LB on GT masks', rows['lb_full_real_gt_masks'], 'oracle', rows['oracle_real'], flush=True)
    if args.ub and Path(args.ub).is_file():
        ub = PoseEstimator.load(args.ub, catalog, inference='full')
        rows['ub_pose_real'] = _pose_row(ub, test, obj, lb_masks, max_images=args.max_images)
        out['ub_ckpt'] = args.ub
        if args.ub_seg and Path(args.ub_seg).is_file():
            out['seg_ap50_real_ub'] = ap50(args.ub_seg)
            ub_masks = _mask_source(work, args.ub_seg, Segmenter.load(args.ub_seg, catalog), test, obj.name,
                                    'real_pbr')
            rows['ub_full_real'] = _pose_row(ub, test, obj, ub_masks, max_images=args.max_images)
            out['ub_seg_ckpt'] = args.ub_seg
        print('UB', rows.get('ub_full_real', rows['ub_pose_real']), flush=True)
    out['rows'] = rows
    out['lb_net_recall_real'] = rows['lb_net_real']['recall']
    out['lb_recall_real'] = rows['lb_full_real']['recall']
    out['lb_gt_masks_recall_real'] = rows['lb_full_real_gt_masks']['recall']
    out['oracle_recall_real'] = rows['oracle_real']['recall']
    out['ub_recall_real'] = rows.get('ub_full_real', rows.get('ub_pose_real', {})).get('recall')
    out['gap_points'] = (None if out['ub_recall_real'] is None
                         else round(out['ub_recall_real'] - out['lb_recall_real'], 1))
    out.update(peer_rows(args, lb_masks, lb['full']))
    out['eval_wall_time_s'] = round(time.time() - t0)
    out['machine'] = f'{platform.machine()}, {platform.processor() or "cpu"}, 1 torch thread'
    return out


def peer_rows(args, lb_masks, estimator) -> dict:
    """The classical peers and binpick's full path on the same instances with the LB's masks."""
    from peers import run_peers

    from binpick.catalog import Catalog
    test = Path(args.work) / 'real_pbr' / 'test'
    obj = Catalog().get(args.object)
    peers = run_peers(test, obj, lambda s, i: lb_masks(s, i, None), estimator, max_images=args.peer_images)
    return {'peers': {n: {'recall': round(r['recall'], 1), 'ms': round(r['ms_per_instance'], 1),
                          'instances': r['instances']} for n, r in peers.items()},
            'peer_images': args.peer_images}


def rerun_peers(args, before: dict) -> dict:
    """``before`` with its peer rows measured again (the masks come from the stores already made)."""
    import torch

    from binpick.catalog import Catalog
    from binpick.perception.pose.estimator import PoseEstimator
    from binpick.perception.segmentation import Segmenter
    torch.set_num_threads(1)
    catalog = Catalog()
    test = Path(args.work) / 'real_pbr' / 'test'
    masks = _mask_source(Path(args.work), args.seg, Segmenter.load(args.seg, catalog), test, args.object, 'real_pbr')
    return {**before, **peer_rows(args, masks, PoseEstimator.load(args.lb, catalog, inference='full'))}


ROWS = {'lb_net_real': ('LB, network alone', 'predicted (LB segmentation)'),
        'lb_full_real': ('**LB, full path (the cell\'s)**', 'predicted (LB segmentation)'),
        'lb_full_real_gt_masks': ('LB, full path', 'ground truth'),
        'ub_pose_real': ('UB pose network, full path', 'predicted (LB segmentation)'),
        'ub_full_real': ('**UB, full path (both networks trained on real_pbr labels)**', 'predicted (UB segmentation)'),
        'oracle_real': ('oracle (ICP from the ground-truth pose)', 'ground truth')}


def report(results: dict, rasterized: dict) -> str:
    """Markdown: every part of ``results``, beside the rasterized real cell's figures (``rasterized``)."""
    lines = ['# The sim-to-real gap on the physically based cell', '',
             'Regenerate: `bash bench/pbr_gap.sh PART` (renders `runs/pbr/PART/real_pbr`, trains the UB, then '
             '`bench/pbr_gap.py`). Test split of `real_pbr`, rule BOP19 (targets ≥ 10 % visible), ADD(-S) < 10 % of '
             'the diameter, 1 torch thread. LB: the shipped models, trained on synthetic bins only. UB: both '
             'networks fine-tuned from the LB on the real_pbr train split\'s ground truth (kept apart in '
             '`gt_eval_only/`). The column `real` is the rasterized real-emulated cell (`results/teacher`). '
             'Render cost and settings: [render_cost.md](render_cost.md).', '']
    for name, r in results.items():
        ras = rasterized.get(name, {})
        lines += [f'## {name}', '', f'Models: segmentation `{r["seg_ckpt"]}`, LB `{r["lb_ckpt"]}`'
                  + (f', UB `{r["ub_ckpt"]}`' if r.get('ub_ckpt') else '')
                  + (f', UB segmentation `{r["ub_seg_ckpt"]}`' if r.get('ub_seg_ckpt') else '') + '.', '',
                  '| figure | masks | real (rasterized) | real_pbr | correct / targets |',
                  '| --- | --- | --- | --- | --- |',
                  f'| mask AP50, LB segmentation | | {ras.get("seg_ap50_real", "–")} | {r["seg_ap50_real"]:.3f} | |']
        if r.get('seg_ap50_real_ub') is not None:
            lines.append(f'| mask AP50, UB segmentation | | {ras.get("seg_ap50_real_ub", "–")} | '
                         f'{r["seg_ap50_real_ub"]:.3f} | |')
        ras_rows = ras.get('rows', {})
        for key, (label, masks) in ROWS.items():
            if key in r['rows']:
                row = r['rows'][key]
                before = f'{ras_rows[key]["recall"]:.1f} %' if key in ras_rows else '–'
                lines.append(f'| {label} | {masks} | {before} | {row["recall"]:.1f} % | '
                             f'{row["correct"]} / {row["targets"]} |')
        if r.get('gap_points') is not None:
            ras_gap = (f'{ras["ub_recall_real"] - ras["lb_recall_real"]:+.1f}'
                       if ras.get('ub_recall_real') is not None else '–')
            lines.append(f'| **UB − LB (points)** | | {ras_gap} | **{r["gap_points"]:+.1f}** | |')
        lines += ['', f'Classical peers on the same instances and LB masks, {r["peer_images"]} images '
                  '(settings in `bench/peers.py`):', ''] + peers_markdown(r)
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--object', required=True)
    parser.add_argument('--work', required=True, help='folder holding real_pbr/ (bench/pbr_data.sh)')
    parser.add_argument('--seg', required=True, help='LB segmentation checkpoint')
    parser.add_argument('--lb', required=True, help='LB pose checkpoint')
    parser.add_argument('--ub', help='UB pose checkpoint (default WORK/pose_ub.pt, when it exists)')
    parser.add_argument('--ub-seg', help='UB segmentation checkpoint (default WORK/seg_ub.pt, when it exists)')
    parser.add_argument('--max-images', type=int, help='spread over the test split (default: all)')
    parser.add_argument('--peer-images', type=int, default=6)
    parser.add_argument('--out', default='results/pbr')
    parser.add_argument('--peers-only', action='store_true', help='measure only the peers again, keep the rest')
    args = parser.parse_args()
    args.ub = args.ub or str(Path(args.work) / 'pose_ub.pt')
    args.ub_seg = args.ub_seg or str(Path(args.work) / 'seg_ub.pt')

    from binpick.data import atomic
    out = Path(args.out)
    results_path = out / 'results.json'
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results[args.object] = (rerun_peers(args, results[args.object]) if args.peers_only and args.object in results
                            else evaluate_part(args))
    rasterized_path = Path('results/teacher/results.json')
    rasterized = json.loads(rasterized_path.read_text()) if rasterized_path.is_file() else {}
    atomic.write_json(results_path, results)
    atomic.write_text(out / 'report.md', report(results, rasterized))
    print(report({args.object: results[args.object]}, rasterized))


if __name__ == '__main__':
    main()
