"""binpick's ADD(-S) recall next to the BOP toolkit's, on one results CSV and one dataset split.

    .venv/bin/python bench/bop_toolkit_check.py --data DATASET --csv RESULTS.csv [--split test]

The toolkit side uses only the toolkit's own readers and functions (inout, pose_error,
pose_matching) on the dataset's BOP files: ``models_eval/`` vertices, ``models_info.json`` symmetries,
``test_targets_bop19.json`` (how many estimates per image are scored) and ``scene_gt_info.json``
(targets at least 10 % visible). binpick's side is ``binpick.evaluation.recall`` with the BOP19 rule on
the same ``models_eval`` vertices. Needs bop_toolkit_lib (``BINPICK_EXTRA_WHEELS=../shared/bop-toolkit``).
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path


def toolkit_recall(data: Path, split: str, csv: Path) -> tuple[int, int]:
    """(correct, targets) by the BOP toolkit: ADD (ADD-S for symmetric parts) < 0.1 diameter, BOP19 rule."""
    from bop_toolkit_lib import inout, pose_error, pose_matching
    infos = inout.load_json(str(data / 'models_eval' / 'models_info.json'), keys_to_int=True)
    models = {obj_id: inout.load_ply(str(data / 'models_eval' / f'obj_{obj_id:06d}.ply'))['pts'] for obj_id in infos}
    targets = inout.load_json(str(data / 'test_targets_bop19.json'))
    ests = defaultdict(list)
    for r in inout.load_bop_results(str(csv)):
        ests[(r['scene_id'], r['im_id'], r['obj_id'])].append(r)
    correct = total = 0
    scenes: dict = {}
    for t in targets:
        scene_id, im_id, obj_id = t['scene_id'], t['im_id'], t['obj_id']
        if scene_id not in scenes:
            d = data / split / f'{scene_id:06d}'
            scenes[scene_id] = (inout.load_scene_gt(str(d / 'scene_gt.json')),
                                inout.load_json(str(d / 'scene_gt_info.json'), keys_to_int=True))
        gts, gt_infos = scenes[scene_id][0][im_id], scenes[scene_id][1][im_id]
        symmetric = 'symmetries_discrete' in infos[obj_id] or 'symmetries_continuous' in infos[obj_id]
        error = pose_error.adi if symmetric else pose_error.add
        visib = {k: gt_infos[k]['visib_fract'] for k, g in enumerate(gts) if g['obj_id'] == obj_id}
        errs = [{'est_id': n, 'score': e['score'], 'gt_visib_fracts': visib,
                 'errors': {k: [error(e['R'], e['t'], gts[k]['cam_R_m2c'], gts[k]['cam_t_m2c'], models[obj_id])]
                            for k in visib}}
                for n, e in enumerate(ests.get((scene_id, im_id, obj_id), []))]
        valid = {k: v >= 0.1 for k, v in visib.items()}
        matches = pose_matching.match_poses(errs, [0.1 * infos[obj_id]['diameter']], t['inst_count'],
                                            [valid.get(k, False) for k in range(len(gts))])
        correct += sum(m['gt_id'] >= 0 for m in matches)
        total += t['inst_count']
    return correct, total


def binpick_recall(data: Path, split: str, csv: Path) -> tuple[int, int]:
    """(correct, targets) by binpick's own evaluation, BOP19 rule, on the same ``models_eval`` vertices."""
    import trimesh

    from binpick.catalog.models_info import read_models_info
    from binpick.data.bop import BopSplit
    from binpick.data.bop_results import read_results_csv
    from binpick.evaluation.recall import GtTarget, recall
    from binpick.evaluation.rules import RULES
    infos = read_models_info(data / 'models_eval' / 'models_info.json')
    load = lambda k: trimesh.load(data / 'models_eval' / f'obj_{k:06d}.ply', force='mesh', process=False)  # noqa: E731
    points_m = {k: load(k).vertices / 1000.0 for k in infos}
    bsplit = BopSplit(data / split)
    targets = [GtTarget(s, f.im_id, g.obj_id, g.T_cam_obj, i.visib_fract)
               for s in bsplit.scene_ids() for f in bsplit.frames(s) for g, i in zip(f.gt, f.gt_info)]
    report = recall(targets, read_results_csv(csv), points_m, infos, rule=RULES['bop19'])
    return sum(report.correct.values()), sum(report.total.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', required=True, type=Path)
    parser.add_argument('--csv', required=True, type=Path, help='BOP results CSV (binpick eval-pose --csv)')
    parser.add_argument('--split', default='test')
    args = parser.parse_args()
    for name, (ok, n) in (('binpick', binpick_recall(args.data, args.split, args.csv)),
                          ('bop_toolkit', toolkit_recall(args.data, args.split, args.csv))):
        print(f'{name:12s} recall {100.0 * ok / max(1, n):5.1f} %  ({ok} / {n} targets)')


if __name__ == '__main__':
    main()
