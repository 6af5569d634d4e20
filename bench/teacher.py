"""Every figure of the teacher for one part, into ``results/teacher/``.

    .venv/bin/python bench/teacher.py --object zigzag_bracket --work runs/teacher/zigzag_bracket \\
        --seg runs/teacher/zigzag_bracket/seg.pt --lb models/demo/zigzag_bracket_pose_lb.pt

``bash bench/teacher.sh OBJECT`` makes the datasets and models first, then runs this. WORK holds the
datasets ``syn`` (synthetic), ``real`` (real-emulated, one calibration per cell) and ``harsh``
(real_harsh: a new calibration error every scene, the stress row), and unless ``--no-ub`` the UB: ``pose_ub.pt``
and ``seg_ub.pt`` (both fine-tuned on the real train split's evaluation ground truth; without ``seg_ub.pt`` the
UB is the pose network alone, on the LB's masks).

Rows, all on the test splits, BOP19 rule (targets ≥ 10 % visible, as many scored estimates per image as
targets), ADD(-S) < 10 % of the diameter, 1 torch thread:

- segmentation mask AP50 (synthetic, real, harsh), score threshold 0.05, instances under 10 % visible ignored (BOP);
- LB pose with the shipped-style predicted masks: ``net``, ``icp``, ``full`` (the cell's path);
- LB ``full`` with ground-truth masks (what masks cost), UB ``full`` (its pose network on the LB's masks, and
  on its own segmentation's masks: the UB of the whole path), and the oracle: ICP started from
  the ground-truth pose against the observed points of the ground-truth mask (the ceiling of any
  method that aligns to this depth);
- the classical peers (bench/peers.py) on the same instances with the same predicted masks.

Results of each part are merged into ``OUT/results.json``; ``OUT/report.md`` is rewritten from it.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


class OracleEstimator:
    """ICP from the ground-truth pose of each instance, on the ground-truth masks its ``masks`` serves."""

    def __init__(self, obj, config, split_dir: Path) -> None:
        from binpick.data.bop import BopSplit
        from binpick.perception.pose.refine import PoseRefiner
        self.obj, self.config, self.split = obj, config, BopSplit(split_dir)
        self.refiner, self.poses = PoseRefiner(obj), []

    def masks(self, scene_id: int, im_id: int, _rgb) -> list[np.ndarray]:
        """The frame's ground-truth visible masks of the object; remembers their poses for :meth:`estimate`."""
        frame = self.split.frame(scene_id, im_id, with_masks=True)
        pairs = [(g.T_cam_obj, m) for g, m in zip(frame.gt, frame.masks_visib)
                 if g.obj_id == self.obj.obj_id and m.any()]
        self.poses = [T for T, _ in pairs]
        return [m for _, m in pairs]

    def estimate(self, rgb, depth_m, K, masks, seed: int = 0):
        from binpick.perception.pose.estimator import PoseResult
        from binpick.perception.pose.inputs import SkipInstance, prepare_instance
        rng = np.random.default_rng(seed)
        results = []
        for T_gt, mask in zip(self.poses, masks):
            try:
                observed = prepare_instance(rgb, depth_m, K, mask, self.config.n_points, self.config.crop_px,
                                            rng).observed
            except SkipInstance as e:
                results.append(PoseResult(None, 0.0, str(e)))
                continue
            r = self.refiner.refine(T_gt, observed)
            results.append(PoseResult(r.T_cam_obj, 1.0, d_geo_m=r.d_geo_m, note=r.fell_back))
        return results


def _pose_row(estimator, split_dir: Path, obj, masks, gt_dir=None, max_images=None) -> dict:
    from binpick.evaluation.pose_eval import evaluate_pose
    ev = evaluate_pose(estimator, split_dir, obj, gt_dir, masks, max_images=max_images)
    n_all = ev.report.total.get(obj.obj_id, 0)
    return {'recall': round(100.0 * ev.report.mean, 1), 'correct': ev.report.correct.get(obj.obj_id, 0),
            'targets': n_all, 'ms_per_instance': round(ev.ms_per_instance, 1)}


def _oracle_row(split_dir: Path, obj, config, max_images=None) -> dict:
    """Recall of ICP from the ground-truth pose (the same refiner and point sampling as the estimator)."""
    oracle = OracleEstimator(obj, config, split_dir)
    row = _pose_row(oracle, split_dir, obj, oracle.masks, max_images=max_images)
    row.pop('ms_per_instance')
    return row


def _mask_source(work: Path, ckpt: str, segmenter, split_dir: Path, obj_name: str, name: str):
    """The masks ``segmenter`` (loaded from ``ckpt``) predicts on ``split_dir``, made once and kept in one
    store per model and split; returned as the ``masks`` callable of ``_pose_row``."""
    from binpick.data.bop import BopSplit
    from binpick.perception.mask_store import MaskStore
    from binpick.perception.model_registry import sha256
    store = MaskStore(work / 'masks' / sha256(Path(ckpt))[:12] / name)
    store.fill(BopSplit(split_dir), segmenter, obj_name)
    return lambda s, i, _rgb: store.masks(s, i)


def evaluate_part(args) -> dict:
    import torch
    from peers import run_peers  # bench/, this script's folder

    from binpick.catalog import Catalog
    from binpick.data.bop import BopSplit, eval_gt_dir
    from binpick.evaluation.rules import DEFAULT_RULE
    from binpick.evaluation.segmentation_eval import evaluate_split
    from binpick.perception.pose.estimator import PoseEstimator
    from binpick.perception.seg_train import label_map
    from binpick.perception.segmentation import Segmenter

    torch.set_num_threads(1)
    catalog = Catalog()
    obj = catalog.get(args.object)
    work = Path(args.work)
    domains = {'syn': work / 'syn', 'real': work / 'real', 'harsh': work / 'harsh'}
    segmenter = Segmenter.load(args.seg, catalog)                     # the cell's masks (score >= 0.5)
    ranked = Segmenter.load(args.seg, catalog, score_threshold=0.05)   # for AP, as eval-seg scores it
    out: dict = {'object': obj.name, 'seg_ckpt': str(args.seg), 'lb_ckpt': str(args.lb),
                 'rule': DEFAULT_RULE, 'max_images': args.max_images}
    t0 = time.time()
    labels = label_map(catalog, segmenter.config.object_names)
    for name, data in domains.items():   # segmentation, all domains
        m = evaluate_split(ranked, data / 'test', labels, eval_gt_dir(data / 'test'))
        out[f'seg_ap50_{name}'] = round(m['AP50'], 3)
        out[f'seg_ap_{name}'] = round(m['AP'], 3)
        out['seg_ms_per_image'] = round(m['ms_per_image'], 0)
        print(f'{name}: mask AP50 {m["AP50"]:.3f}', flush=True)

    stores = {name: _mask_source(work, args.seg, segmenter, data / 'test', obj.name, name)
              for name, data in domains.items()}   # predicted masks, once per split

    lb = {mode: PoseEstimator.load(args.lb, catalog, inference=mode) for mode in ('net', 'icp', 'full')}
    lb['full_2'] = PoseEstimator.load(args.lb, catalog, inference='full', hypotheses=2)
    lb['full_10'] = PoseEstimator.load(args.lb, catalog, inference='full', hypotheses=10)
    rows: dict = {}
    for mode in ('net', 'icp', 'full', 'full_2', 'full_10'):
        rows[f'lb_{mode}_real'] = _pose_row(lb[mode], domains['real'] / 'test', obj, stores['real'],
                                            max_images=args.max_images)
        print(mode, rows[f'lb_{mode}_real'], flush=True)
    rows['lb_full_real_gt_masks'] = _pose_row(lb['full'], domains['real'] / 'test', obj, None,
                                              max_images=args.max_images)
    rows['lb_full_syn'] = _pose_row(lb['full'], domains['syn'] / 'test', obj, stores['syn'], max_images=args.max_images)
    rows['lb_full_harsh'] = _pose_row(lb['full'], domains['harsh'] / 'test', obj, stores['harsh'],
                                      max_images=args.max_images)
    for name in ('real', 'syn', 'harsh'):
        rows[f'oracle_{name}'] = _oracle_row(domains[name] / 'test', obj, lb['full'].config, args.max_images)
        print('oracle', name, rows[f'oracle_{name}'], flush=True)
    if args.ub:
        ub = PoseEstimator.load(args.ub, catalog, inference='full')
        rows['ub_pose_real'] = _pose_row(ub, domains['real'] / 'test', obj, stores['real'], max_images=args.max_images)
        out['ub_ckpt'] = str(args.ub)
    if args.ub and args.ub_seg:   # the UB's own masks, post-processed as the LB's are
        ub_config = {'mask_threshold': segmenter.config.mask_threshold}
        ub_ranked = Segmenter.load(args.ub_seg, catalog, score_threshold=0.05)
        ub_ranked.config = replace(ub_ranked.config, **ub_config)
        m = evaluate_split(ub_ranked, domains['real'] / 'test', labels, eval_gt_dir(domains['real'] / 'test'))
        out['seg_ap50_real_ub'] = round(m['AP50'], 3)
        ub_segmenter = Segmenter.load(args.ub_seg, catalog)
        ub_segmenter.config = replace(ub_segmenter.config, **ub_config)
        ub_masks = _mask_source(work, args.ub_seg, ub_segmenter, domains['real'] / 'test', obj.name, 'real')
        rows['ub_full_real'] = _pose_row(ub, domains['real'] / 'test', obj, ub_masks, max_images=args.max_images)
        out['ub_seg_ckpt'] = str(args.ub_seg)
        print('UB', out['seg_ap50_real_ub'], rows['ub_full_real'], flush=True)
    out['rows'] = rows
    out['lb_recall_real'] = rows['lb_full_real']['recall']
    out['lb_recall_syn'] = rows['lb_full_syn']['recall']
    out['lb_recall_harsh'] = rows['lb_full_harsh']['recall']
    out['oracle_recall_real'] = rows['oracle_real']['recall']
    out['oracle_recall_syn'] = rows['oracle_syn']['recall']
    out['oracle_recall_harsh'] = rows['oracle_harsh']['recall']
    # the UB of the whole path when the UB has its own segmentation, else the UB pose network's
    out['ub_recall_real'] = rows.get('ub_full_real', rows.get('ub_pose_real', {})).get('recall')
    out['ms_per_instance'] = rows['lb_full_real']['ms_per_instance']
    out['hypotheses'] = lb['full'].hypotheses

    real = BopSplit(domains['real'] / 'test')
    peer_masks = lambda s, i: stores['real'](s, i, None)  # noqa: E731
    peers = run_peers(real.root, obj, peer_masks, lb['full'], max_images=args.peer_images)
    out['peers'] = {n: {'recall': round(r['recall'], 1), 'ms': round(r['ms_per_instance'], 1),
                        'instances': r['instances']} for n, r in peers.items()}
    out['peer_images'] = args.peer_images
    out['eval_wall_time_s'] = round(time.time() - t0)
    out['machine'] = f'{platform.machine()}, {platform.processor() or "cpu"}, 1 torch thread'
    return out


def report(results: dict) -> str:
    """The markdown report of every part in ``results``."""
    lines = ['# The teacher: segmentation and LB pose on two CPU cores', '',
             'Regenerate: `bash bench/teacher.sh OBJECT` (datasets, segmentation fine-tune, UB), or only the figures: '
             '`.venv/bin/python bench/teacher.py --object OBJECT --work runs/teacher/OBJECT --seg SEG --lb LB`.',
             'Test splits; rule BOP19 (targets ≥ 10 % visible, as many scored estimates per image as targets); '
             'ADD(-S) < 10 % of the diameter; 1 torch thread. `real`: real-emulated stereo, one calibration '
             'per cell; `harsh`: a new calibration error every scene (stress row). Oracle: ICP from the '
             'ground-truth pose on the ground-truth mask\'s points.', '']
    for name, r in results.items():
        rows = r['rows']
        lines += [f'## {name}', '',
                  f'Models: segmentation `{r["seg_ckpt"]}`, LB `{r["lb_ckpt"]}`'
                  + (f', UB `{r["ub_ckpt"]}`' if r.get('ub_ckpt') else '')
                  + (f', UB segmentation `{r["ub_seg_ckpt"]}`' if r.get('ub_seg_ckpt') else '') + '.', '',
                  '| segmentation | synthetic | real | harsh |', '| --- | --- | --- | --- |',
                  f'| mask AP50 | {r["seg_ap50_syn"]:.3f} | {r["seg_ap50_real"]:.3f} | {r["seg_ap50_harsh"]:.3f} |',
                  f'| mask AP | {r["seg_ap_syn"]:.3f} | {r["seg_ap_real"]:.3f} | {r["seg_ap_harsh"]:.3f} |']
        if r.get('seg_ap50_real_ub') is not None:
            lines.append(f'| mask AP50, UB segmentation | – | {r["seg_ap50_real_ub"]:.3f} | – |')
        lines += ['',
                  '| pose (ADD(-S) recall) | masks | recall | correct / targets | ms per instance |',
                  '| --- | --- | --- | --- | --- |']
        labels = {'lb_net_real': ('LB, network alone, real', 'predicted'),
                  'lb_icp_real': ('LB, + ICP, real', 'predicted'),
                  'lb_full_real': (f'**LB, full path (the cell, {r["hypotheses"]} anchors), real**', 'predicted'),
                  'lb_full_2_real': ('LB, full path with 2 anchors, real', 'predicted'),
                  'lb_full_10_real': ('LB, full path with 10 anchors, real', 'predicted'),
                  'lb_full_real_gt_masks': ('LB, full path, real', 'ground truth'),
                  'ub_pose_real': ('UB pose network, full path, real', 'predicted by the LB segmentation'),
                  'ub_full_real': ('UB, full path, real', 'predicted by the UB segmentation'),
                  'oracle_real': ('oracle (ICP from GT), real', 'ground truth'),
                  'lb_full_syn': ('LB, full path, synthetic', 'predicted'),
                  'oracle_syn': ('oracle, synthetic', 'ground truth'),
                  'lb_full_harsh': ('LB, full path, harsh (stress)', 'predicted'),
                  'oracle_harsh': ('oracle, harsh (stress)', 'ground truth')}
        for key, (label, masks) in labels.items():
            if key in rows:
                row = rows[key]
                ms = f'{row["ms_per_instance"]:.1f}' if 'ms_per_instance' in row else '–'
                lines.append(f'| {label} | {masks} | {row["recall"]:.1f} % | {row["correct"]} / {row["targets"]} '
                             f'| {ms} |')
        ratio = r['lb_recall_real'] / r['oracle_recall_real'] if r['oracle_recall_real'] else float('nan')
        gap = ('' if r.get('ub_recall_real') is None
               else f' UB − LB: {r["ub_recall_real"] - r["lb_recall_real"]:+.1f} points.')
        lines += ['', f'LB / oracle on real: {ratio:.2f}.{gap}',
                  '', f'Classical peers, real test split, the same predicted masks, {r["peer_images"]} images '
                  f'(settings in `bench/peers.py`):', '']
        lines += peers_markdown(r)
    return '\n'.join(lines)


def peers_markdown(r: dict) -> list[str]:
    """The peers' table of one part's results and the evaluation's wall time, as markdown lines."""
    return (['| method | recall | ms per instance |', '| --- | --- | --- |']
            + [f'| {n} | {p["recall"]:.1f} % | {p["ms"]:.1f} |' for n, p in r['peers'].items()]
            + ['', f'Evaluation wall time {r["eval_wall_time_s"]} s; {r["machine"]}.', ''])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--object', required=True)
    parser.add_argument('--work', required=True, help='folder with the datasets syn, real, harsh (bench/teacher.sh)')
    parser.add_argument('--seg', required=True, help='segmentation checkpoint')
    parser.add_argument('--lb', required=True, help='LB pose checkpoint')
    parser.add_argument('--ub', help='UB pose checkpoint (default WORK/pose_ub.pt)')
    parser.add_argument('--ub-seg', help='UB segmentation checkpoint (default WORK/seg_ub.pt when it exists)')
    parser.add_argument('--no-ub', action='store_true')
    parser.add_argument('--max-images', type=int, help='spread over each test split (default: all)')
    parser.add_argument('--peer-images', type=int, default=6)
    parser.add_argument('--out', default='results/teacher')
    args = parser.parse_args()
    if not args.no_ub:
        args.ub = args.ub or str(Path(args.work) / 'pose_ub.pt')
        default_ub_seg = Path(args.work) / 'seg_ub.pt'
        args.ub_seg = args.ub_seg or (str(default_ub_seg) if default_ub_seg.is_file() else None)
    else:
        args.ub = args.ub_seg = None

    from binpick.data import atomic
    out = Path(args.out)
    results_path = out / 'results.json'
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results[args.object] = evaluate_part(args)
    atomic.write_json(results_path, results)
    atomic.write_text(out / 'report.md', report(results))
    print(report({args.object: results[args.object]}))


if __name__ == '__main__':
    main()
