"""How the full inference path should choose among its hypotheses: rules compared on the same ICP runs.

For every target instance of a split (ground-truth masks, instances >= 10 % visible: a diagnosis), the
network's anchors are ranked by certainty, the first --pool distinct ones (as `PoseRefiner.distinct`) are
each refined by ICP once, and each refined pose is marked right or wrong (ADD(-S) < 10 % of the diameter).
Then every selection rule is replayed on those same refinements:

- `top-K, best fit`: the distinct ones among the K most certain anchors, the smallest Chamfer distance;
- `top-K, most certain within X mm of the best fit`: the same, the network's ranking breaking near-ties
  of fit (the full path since 2026-11-28, K = 5);
- `K distinct, best fit`: the K most certain distinct anchors, the smallest Chamfer distance;
- `K distinct, most certain within X mm of the best fit`: the K most certain distinct anchors (the full
  path of 2026-11-28), the network's ranking breaking near-ties of fit;
- `..., stop at a fit below F mm`: the same, but refinement stops at the first hypothesis whose fit is
  below F mm (the later ones are never refined): the cost is the mean number of ICP runs per instance.

Usage: .venv/bin/python bench/hypotheses.py --ckpt A.pt [--ckpt B.pt] --data runs/teacher/zigzag_bracket/real
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def refinements(ckpt: Path, split_dir: Path, pool: int, max_images: int | None, min_visib: float = 0.1):
    """Per instance: (raw rank of each kept hypothesis, Chamfer distance in metres, correct) arrays."""
    from tqdm import tqdm

    from binpick.catalog import Catalog
    from binpick.data.bop import BopSplit
    from binpick.evaluation.pose_error import add_or_adds, is_correct
    from binpick.perception.pose.estimator import PoseEstimator

    catalog = Catalog()
    est = PoseEstimator.load(ckpt, catalog, hypotheses=60)   # every anchor of the icosahedral group
    obj = catalog.get(est.config.object_name)
    pts = obj.sample_points(1000)
    split = BopSplit(split_dir)
    frames = [(s, i) for s in split.scene_ids() for i in split.image_ids(s)]
    if max_images:
        frames = frames[::max(1, len(frames) // max_images)][:max_images]
    out = []
    rng = np.random.default_rng(0)
    for scene_id, im_id in tqdm(frames, desc=ckpt.name, unit='image'):
        f = split.frame(scene_id, im_id, with_masks=True)
        for k, g in enumerate(f.gt):
            if g.obj_id != obj.obj_id or f.gt_info[k].visib_fract < min_visib:
                continue
            h = est.candidate_poses(f.rgb, f.depth_m, f.camera.K, [f.masks_visib[k]], rng)[0]
            if h.skipped:
                out.append((np.zeros(0, int), np.zeros(0), np.zeros(0, bool)))
                continue
            hyps = [T for T, _ in h.poses]
            kept = est.refiner.distinct(hyps, limit=pool)
            refined = [est.refiner.refine(hyps[i], h.observed_m) for i in kept]
            correct = [bool(is_correct(add_or_adds(r.T_cam_obj, g.T_cam_obj, pts, obj.info.is_symmetric),
                                       obj.info.diameter_m)) for r in refined]
            out.append((np.array(kept), np.array([r.d_geo_m for r in refined]), np.array(correct)))
    return out


def rules(ks: list[int], margins_mm: list[float], stops_mm: list[float]):
    """name -> function(raw ranks, d_geo) -> (index into the kept list or -1, ICP runs needed)."""
    def top_k(k, margin_m=None):
        def rule(rank, d):
            m = np.flatnonzero(rank < k)
            if not len(m):
                return -1, 0
            if margin_m is None:
                return int(m[np.argmin(d[m])]), len(m)
            return int(m[np.flatnonzero(d[m] <= d[m].min() + margin_m)[0]]), len(m)
        return rule

    def distinct_k(k, margin_m=None, stop_m=None):
        def rule(rank, d):
            d = d[:k]
            if stop_m is not None:
                below = np.flatnonzero(d <= stop_m)
                if len(below):
                    d = d[:below[0] + 1]
            if not len(d):
                return -1, 0
            if margin_m is None:
                return int(np.argmin(d)), len(d)
            return int(np.flatnonzero(d <= d.min() + margin_m)[0]), len(d)
        return rule
    out = {}
    for k in ks:
        out[f'top-{k}, best fit'] = top_k(k)
        out[f'{k} distinct, best fit'] = distinct_k(k)
        for mm in margins_mm:
            out[f'top-{k}, most certain within {mm} mm of the best fit'] = top_k(k, mm / 1000)
        for mm in margins_mm:
            out[f'{k} distinct, most certain within {mm} mm of the best fit'] = distinct_k(k, mm / 1000)
            for stop in stops_mm:
                out[f'{k} distinct, within {mm} mm, stop at a fit below {stop} mm'] = \
                    distinct_k(k, mm / 1000, stop / 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--ckpt', action='append', required=True)
    parser.add_argument('--data', required=True, help='binpick synth dataset (its test split is used)')
    parser.add_argument('--split', default='test')
    parser.add_argument('--pool', type=int, default=20, help='distinct hypotheses refined per instance')
    parser.add_argument('--max-images', type=int)
    parser.add_argument('--k', type=int, nargs='+', default=[5, 10, 20])
    parser.add_argument('--margin-mm', type=float, nargs='+', default=[0.1, 0.25, 0.5, 1.0])
    parser.add_argument('--stop-mm', type=float, nargs='*', default=[1.0, 1.5, 2.0, 2.5])
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    results = {c: refinements(Path(c), Path(args.data) / args.split, args.pool, args.max_images) for c in args.ckpt}
    print(f'\nADD(-S) recall with ground-truth masks, {args.data}/{args.split}, '
          f'{len(next(iter(results.values())))} instances >= 10 % visible\n')
    print('| rule | ' + ' | '.join(f'{Path(c).name} | ICP runs' for c in args.ckpt) + ' |\n| --- |'
          + ' --- | --- |' * len(args.ckpt))
    print('| oracle: any of the pool is right | ' + ' | '.join(
        f'{100 * np.mean([c.any() for _, _, c in r]):.1f} % | {np.mean([len(c) for _, _, c in r]):.1f}'
        for r in results.values()) + ' |')
    for name, rule in rules(args.k, args.margin_mm, args.stop_mm).items():
        cells = []
        for r in results.values():
            picks = [rule(rank, d) for rank, d, _ in r]
            right = [i >= 0 and c[i] for (i, _), (_, _, c) in zip(picks, r)]
            cells.append(f'{100 * np.mean(right):.1f} % | {np.mean([n for _, n in picks]):.1f}')
        print(f'| {name} | ' + ' | '.join(cells) + ' |')
    for c, r in results.items():
        best = np.array([d.min() for _, d, _ in r if len(d)])
        print(f'{Path(c).name}: best fit per instance, percentiles 5/25/50/75/95: '
              + ' / '.join(f'{1000 * v:.2f}' for v in np.percentile(best, [5, 25, 50, 75, 95])) + ' mm')


if __name__ == '__main__':
    main()
