"""Train the model-free grasp-quality model (``binpick.modelfree.grasp_quality``) on the hand test of
procedural training shapes, and check it on parts it never saw.

``record``: the pick bench's model-free source runs in the simulated cell on bins of training shapes (or,
for testing only, a catalog part); at every decision each executable grasp it found (up to 20) is also tried
on the true part alone in the hand test (``sim/hand.py``, the part lying as in the bin). One JSON line per
grasp: its features, the hand test's verdict, its rank and score, and, for the executed one, the cell's
outcome. Resumable: objects already in the output are skipped. Other labels and candidates (2026-12-06; none
raised the zigzag_bracket's first pick): ``--trials`` hand tests per grasp (the label the share that held),
``--grasp-pixels`` per instance, ``--fragment`` (a share of the masks cut in two), ``--grasp-quality`` (rank as
the cell does with a model).

``fit``: the model on the training rows; prints the AUC on held-out training shapes (4 folds by
shape) and, on test rows, the AUC and the hand-test hold rate of the grasp each ranking puts first.

    .venv/bin/python bench/grasp_quality.py record --uois models/demo/uois_maskrcnn.pt --shapes 32 \
        --every 2 --start 0 --out runs/gq/train0.jsonl        # and --start 1 in a second process
    .venv/bin/python bench/grasp_quality.py record --uois models/demo/uois_maskrcnn.pt \
        --object zigzag_bracket --attempts 50 --out runs/gq/zigzag.jsonl
    .venv/bin/python bench/grasp_quality.py fit --train runs/gq/train*.jsonl --test runs/gq/zigzag.jsonl \
        --save models/demo/grasp_quality.json
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from first_pick_slips import hold_test, mask_part

from binpick.catalog import Catalog
from binpick.evaluation.pick_bench import ModelFreeMasks, run_source
from binpick.modelfree.first_pick import CostMapConfig
from binpick.modelfree.grasp_quality import GraspQuality
from binpick.modelfree.shapes import write_shape_catalog
from binpick.sim.generator import CellConfig
from binpick.sim.hand import FloatingHand

SHAPE_SEED = 11          # the training shapes' seed (any: they are procedural training shapes)


class Recorder(ModelFreeMasks):
    """The model-free source, writing every decision's grasps with their hand-test verdicts."""

    def __init__(self, segment, hand: FloatingHand, obj_name: str, out, trials: int = 1, seed: int = 0,
                 config: CostMapConfig | None = None, quality: GraspQuality | None = None) -> None:
        super().__init__('recorder', segment, config=config, quality=quality)
        self.hand, self.obj_name, self.out = hand, obj_name, out
        self.trials, self.rng = trials, np.random.default_rng(seed)
        self.decisions, self.pending = 0, None

    def for_cell(self, cell, planner):
        decide_pick = super().for_cell(cell, planner)

        def decide(cap, depth_m):
            decision, n = decide_pick(cap, depth_m)
            rows = []
            for rank, grasp in enumerate(self.pipeline.last_grasps):
                part, share = mask_part(self.last_masks[grasp.instance], cap.instance_image)
                rate = None if part < 0 else hold_test(self.hand, cap.T_cam_obj[part], cell.T_base_cam,
                                                       grasp.T_base_tcp, grasp.opening_m, self.trials, self.rng)
                rows.append({'object': self.obj_name, 'decision': self.decisions, 'rank': rank, 'score': grasp.score,
                             'share_of_mask': share, 'features': grasp.features.tolist(),
                             'held': None if rate is None else rate >= 0.5, 'hold_rate': rate,
                             'executed': grasp is decision.candidate, 'success': None})
            self.decisions += 1
            self.pending = rows
            if decision.plan is None:
                self.flush()
            return decision, n
        return decide

    def after_pick(self, candidate, success: bool) -> None:
        super().after_pick(candidate, success)
        for row in self.pending or []:
            if row['executed']:
                row['success'] = success
        self.flush()

    def flush(self) -> None:
        for row in self.pending or []:
            self.out.write(json.dumps(row) + '\n')
        self.out.flush()
        self.pending = None


def split_mask(mask: np.ndarray, rng: np.random.Generator, min_px: int = 150) -> list[np.ndarray]:
    """``mask`` cut in two along a random line near its centroid (the pieces of at least ``min_px`` pixels): the
    fragments a segmenter leaves of a part it has never seen, for labels of grasps on them."""
    vs, us = np.nonzero(mask)
    direction = rng.normal(size=2)
    along = (np.stack([vs, us], axis=1) - [vs.mean(), us.mean()]) @ (direction / np.linalg.norm(direction))
    cut = rng.uniform(-0.3, 0.3) * np.ptp(along)
    pieces = []
    for side in (along < cut, along >= cut):
        piece = np.zeros_like(mask)
        piece[vs[side], us[side]] = True
        if side.sum() >= min_px:
            pieces.append(piece)
    return pieces or [mask]


def record(args) -> None:
    torch.set_num_threads(1)
    quality = GraspQuality.load(args.grasp_quality) if args.grasp_quality else None   # a bad file fails first
    from binpick.modelfree.uois import load_segmenter
    segmenter = load_segmenter(args.uois)

    rng = np.random.default_rng([args.seed, 1])           # another stream than the hand tests' errors

    def segment(cap, depth_m):
        masks = [i.mask for i in segmenter.segment(cap.left_rgb, depth_m, cap.K)]
        return [piece for m in masks for piece in (split_mask(m, rng) if rng.random() < args.fragment else [m])]
    if args.object:
        objects = [Catalog().get(args.object)]
    else:
        folder = Path(args.shape_dir or tempfile.mkdtemp(prefix='binpick_gq_shapes_'))
        catalog = write_shape_catalog(folder, 'train', args.shapes, args.shape_seed, tuple(args.kinds))
        objects = [catalog.get(name) for name in sorted(catalog.names())][args.start::args.every]
    out_path = Path(args.out)
    done = {json.loads(line)['object'] for line in out_path.read_text().splitlines()} if out_path.exists() else set()
    with out_path.open('a') as out:
        for obj in objects:
            if obj.name in done:
                continue
            source = Recorder(segment, FloatingHand(obj), obj.name, out, args.trials, args.seed,
                              CostMapConfig(grasp_pixels=args.grasp_pixels), quality)
            cycles = run_source(obj, CellConfig.from_config(), source, args.attempts, seed=args.seed)
            executed = [c for c in cycles if c.executed]
            print(f'{obj.name}: {sum(c.success for c in executed)} / {len(executed)} picks, '
                  f'{source.decisions} decisions', flush=True)


def load_rows(paths: list[str]) -> list[dict]:
    return [row for p in paths for line in Path(p).read_text().splitlines()
            if (row := json.loads(line))['held'] is not None]


def auc(p: np.ndarray, y: np.ndarray) -> float:
    """The probability that a random holding grasp scores above a random dropping one."""
    pos, neg = p[y], p[~y]
    if not len(pos) or not len(neg):
        return float('nan')
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def first_choice_hold(rows: list[dict], key) -> float:
    """The hand-test hold rate of the grasp ``key`` (callable(row) -> float) ranks first, per decision."""
    best: dict = {}
    for row in rows:
        d = (row['object'], row['decision'])
        if d not in best or key(row) > key(best[d]):
            best[d] = row
    return float(np.mean([r.get('hold_rate', r['held']) for r in best.values()]))


def first_choices(rows: list[dict], p_hold: np.ndarray) -> str:
    """How often the first choice holds when the pipeline's score is multiplied by P(hold)^g, for some g."""
    for r, q in zip(rows, p_hold):
        r['p_hold'] = q
    return 'first choice holds:' + ''.join(
        f' p^{g:g} {first_choice_hold(rows, lambda r, g=g: r["score"] * r["p_hold"] ** g):.0%}' for g in (0, 1, 2, 4))


def fit(args) -> None:
    train = load_rows(args.train)
    x = np.array([r['features'] for r in train])
    y, target = np.array([r['held'] for r in train]), np.array([r.get('hold_rate', r['held']) for r in train], float)
    names = sorted({r['object'] for r in train})
    print(f'{len(train)} training grasps on {len(names)} shapes, {y.mean():.0%} hold')
    fold_of = {n: i % 4 for i, n in enumerate(names)}
    folds = np.array([fold_of[r['object']] for r in train])
    p = np.zeros(len(train))
    settings = {'hidden': args.hidden, 'weight_decay': args.weight_decay}
    for f in range(4):
        model = GraspQuality.fit(x[folds != f], target[folds != f], **settings)
        p[folds == f] = model(x[folds == f])
    print(f'held-out shapes: AUC {auc(p, y):.3f}; {first_choices(train, p)}')
    model = GraspQuality.fit(x, target, **settings, trained_on=f'hand tests of {len(train)} grasps on {len(names)} '
                             f'procedural training shapes (bench/grasp_quality.py)')
    for path in args.test or []:
        rows = load_rows([path])
        yt = np.array([r['held'] for r in rows])
        pt = model(np.array([r['features'] for r in rows]))
        print(f'{path}: {len(rows)} grasps, {yt.mean():.0%} hold, AUC {auc(pt, yt):.3f}; {first_choices(rows, pt)}')
    if args.save:
        model.save(Path(args.save))
        print(f'wrote {args.save}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    rec = sub.add_parser('record', help='hand-test every grasp of the model-free source in the cell')
    rec.add_argument('--uois', required=True, help='class-agnostic segmenter')
    rec.add_argument('--object', help='a catalog part (for testing; default: the procedural training shapes)')
    rec.add_argument('--shapes', type=int, default=32, help='training shapes (default %(default)s)')
    rec.add_argument('--shape-dir', help='where the training shapes are written (default: a temporary folder; '
                     'one per process: processes writing the same folder at once break its catalog)')
    rec.add_argument('--shape-seed', type=int, default=SHAPE_SEED, help='(default %(default)s)')
    rec.add_argument('--kinds', nargs='*', default=[], help='only these training kinds (default: all)')
    rec.add_argument('--start', type=int, default=0, help='the first of the shapes this process takes')
    rec.add_argument('--every', type=int, default=1, help='... and then every this many')
    rec.add_argument('--attempts', type=int, default=12, help='executed picks per object (default %(default)s)')
    rec.add_argument('--seed', type=int, default=0, help='the cell\'s seed')
    rec.add_argument('--grasp-pixels', type=int, default=CostMapConfig.grasp_pixels,
                     help='best pixels per instance turned into grasps (default %(default)s)')
    rec.add_argument('--grasp-quality', help='rank the grasps with this grasp-quality model (JSON) as the cell does')
    rec.add_argument('--fragment', type=float, default=0.0,
                     help='the share of masks cut in two before the grasps are found, as a segmenter breaks '
                          'parts it has never seen (default %(default)s)')
    rec.add_argument('--trials', type=int, default=1,
                     help='hand tests per grasp, all but the first missing it by up to 2 mm and 3 degrees; the '
                          'label is the share that hold (default %(default)s)')
    rec.add_argument('--out', required=True, help='JSON lines, appended')
    rec.set_defaults(run=record)
    fit_p = sub.add_parser('fit', help='fit the model on training rows, check it on test rows')
    fit_p.add_argument('--train', nargs='+', required=True)
    fit_p.add_argument('--test', nargs='*')
    fit_p.add_argument('--hidden', type=int, default=32, help='hidden units (default %(default)s)')
    fit_p.add_argument('--weight-decay', type=float, default=1e-2, help='(default %(default)s)')
    fit_p.add_argument('--save', help='write the model here (JSON)')
    fit_p.set_defaults(run=fit)
    args = parser.parse_args()
    args.run(args)


if __name__ == '__main__':
    main()
