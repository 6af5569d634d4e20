"""results/modelfree/results.json and report.md: the model-free figures gathered from the runs that measure
them (each figure names the command that printed it).

    .venv/bin/python bench/modelfree_report.py [--uois runs/uois] [--out results/modelfree]

Reads WORK/eval_ucn.json, WORK/eval_maskrcnn_720_mask0.3.json (the shipped class-agnostic Mask R-CNN, from
``HIGH_RES=1 bash bench/uois.sh``; else WORK/eval_maskrcnn.json, its 480-pixel parent) and
WORK/eval_baseline.json (bench/uois.sh), WORK/synth_speed_syn.json and WORK/synth_speed.json
(bench/synth_speed.py --shapes --domain synthetic|real --json ...),
results/modelfree/registration.json (bench/registration.py), results/picking_model_free/results.json
(binpick pick-bench --model-free), results/picking_model_free_parts/*/results.json (bench/first_pick_parts.sh)
and results/modelfree/time_to_model.json (bench/time_to_model.sh). A figure whose run is not there (the work
folders are not committed) is carried over from the previous results.json, and the report says which.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from binpick.data import atomic
from binpick.evaluation.pick_bench import NO_PICK

MODELS = {'ucn': ('UCN', ('eval_ucn.json',), 'no model, masks by the UCN'),
          'maskrcnn': ('class-agnostic Mask R-CNN', ('eval_maskrcnn_720_mask0.3.json', 'eval_maskrcnn.json'),
                       'no model, masks by the class-agnostic Mask R-CNN')}


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def first_pick_parts(folder: Path) -> dict | None:
    """``bench/first_pick_parts.sh``'s runs pooled per part: {part: {successes, attempts, success_rate, seeds,
    failures (of executed picks, by kind), no_pick (cycles without a pick, by kind)}}, their mean over the
    parts under ``mean``, and all executed picks pooled under ``pooled`` (percent)."""
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob('*/results.json'))] if folder.is_dir() else []
    parts: dict = {}
    for run in runs:
        (source,) = run['sources'].values()
        row = parts.setdefault(run['object'], {'successes': 0, 'attempts': 0, 'seeds': [], 'failures': {},
                                               'no_pick': {}})
        row['successes'] += source['successes']
        row['attempts'] += source['attempts']
        row['seeds'] += run['seed'] if isinstance(run['seed'], list) else [run['seed']]
        for reason, n in source['failures'].items():
            kind = row['no_pick' if reason in NO_PICK else 'failures']
            kind[reason] = kind.get(reason, 0) + n
    for row in parts.values():
        row['success_rate'] = 100.0 * row['successes'] / row['attempts']
    if not parts:
        return None
    return {'parts': dict(sorted(parts.items())),
            'mean': sum(r['success_rate'] for r in parts.values()) / len(parts),
            'pooled': 100.0 * sum(r['successes'] for r in parts.values()) / sum(r['attempts'] for r in parts.values())}


def gather(work: Path, registration: Path, picking: Path, time_to_model: Path, part_runs: Path) -> dict:
    """The headline figures (None where the run is missing; the better learned model's; the first pick: the mean
    over the built-in parts where ``part_runs`` has them, else ``picking``'s) and the per-dataset rows of every
    model."""
    evals = {key: e for key, (_, files, _) in MODELS.items()
             if (e := next(filter(None, (_load(work / f) for f in files)), None))}
    baseline = _load(work / 'eval_baseline.json')
    speed, reg, picks = _load(work / 'synth_speed_syn.json'), _load(registration), _load(picking)
    speed_real = _load(work / 'synth_speed.json')
    best = max(evals, key=lambda k: evals[k]['mean_f1'], default=None)
    pick_rates = (picks or {}).get('success_rate', {})
    best_pick = best and next((v for k, v in pick_rates.items() if k.startswith(MODELS[best][2])), None)
    parts = first_pick_parts(part_runs)
    def by_name(e: dict | None) -> dict:        # runs may name the same folder by a relative or absolute path
        return {Path(d).name: row for d, row in (e or {}).get('datasets', {}).items()}
    rows, baseline_rows = {k: by_name(e) for k, e in evals.items()}, by_name(baseline)
    sets = {d for r in rows.values() for d in r}
    return {
        'f1_unseen': best and evals[best]['mean_f1'], 'f1_baseline': baseline and baseline['mean_f1'],
        'f1_model': best and MODELS[best][0], 'f1_by_model': {MODELS[k][0]: e['mean_f1'] for k, e in evals.items()},
        'chamfer_mm': reg and reg['chamfer_mm'], 'diameter_error_max': reg and reg['diameter_error_max'],
        'first_pick_success': parts['mean'] if parts else best_pick,
        'frames_per_s': speed and max(speed['frames_per_s'].values()),
        'frames_per_s_real': speed_real and max(speed_real['frames_per_s'].values()),
        'first_pick_sources': pick_rates or None, 'first_pick_parts': parts,
        'synth_speed': [speed, speed_real],
        'time_to_model': _load(time_to_model),
        'clustering': evals.get('ucn', {}).get('clustering'),
        'datasets': {d: {**{MODELS[k][0]: r.get(d) for k, r in rows.items()}, 'baseline': baseline_rows.get(d)}
                     for d in sorted(sets)},
    }


def _missing(value) -> bool:
    return value in (None, {}, []) or (isinstance(value, list) and all(v is None for v in value))


def carry_over(results: dict, previous: dict) -> dict:
    """``results`` with each figure it lacks taken from ``previous`` (the last report), their keys listed under
    ``carried_over``."""
    keys = [k for k, v in results.items() if _missing(v) and not _missing(previous.get(k))]
    return {**results, **{k: previous[k] for k in keys}, 'carried_over': keys}


def _time_to_model_row(t: dict | None) -> str:
    if not t:
        return '| unknown tote to model-based picking, 2 cores | not measured | (no target) |'
    stages = ', '.join(f'{name} {minutes:.0f}' for name, minutes in t['stages_min'].items())
    s = t['settings']
    return (f'| unknown tote to model-based picking, 2 cores (`bash bench/time_to_model.sh {t["part"]}`: '
            f'{s["scenes"]} scenes, segmentation {s["seg_epochs"]} x {s["seg_iters"]} iterations, LB {s["lb_epochs"]} '
            f'epochs) | {t["total_min"]:.0f} min ({stages}) | (no target) |')


def markdown(r: dict) -> str:
    def pct(x):
        return '–' if x is None else f'{x:.3f}'
    lines = ['# Parts nobody registered: figures', '',
             'Regenerate: `bash bench/uois.sh` and `HIGH_RES=1 bash bench/uois.sh`; `python bench/synth_speed.py '
             '--shapes --domain synthetic --json '
             'runs/uois/synth_speed_syn.json` (and `--domain real ... synth_speed.json`); `python '
             'bench/registration.py`; `binpick pick-bench --object zigzag_bracket --model-free --uois '
             'models/demo/uois_maskrcnn.pt --seed 0 1 --attempts 50 --out results/picking_model_free` (the UCN\'s row: '
             '`--uois models/demo/uois_shapes.pt`); `bash bench/first_pick_parts.sh` (every built-in part); '
             '`bash bench/time_to_model.sh spacer_ring` (its '
             '`time_to_model.json` copied here); then `python bench/modelfree_report.py`.',
             '',
             '| figure | measured | target |', '| --- | --- | --- |',
             f'| object-level F1 at IoU ≥ 0.5, unseen parts, real-emulated (mean of the sets; {r["f1_model"]}) | '
             f'{pct(r["f1_unseen"])} (baseline {pct(r["f1_baseline"])}) | ≥ 0.80 and above the baseline |',
             f'| reconstruction: mean Chamfer distance; largest diameter error | {r["chamfer_mm"]:.2f} mm; '
             f'{100 * r["diameter_error_max"]:.1f} % | ≤ 2 mm; within 3 % |' if r['chamfer_mm'] else
             '| reconstruction | not measured | ≤ 2 mm; within 3 % |',
             (f'| first pick without a model, mean over the {len(r["first_pick_parts"]["parts"])} built-in parts '
              f'(the {r["f1_model"]}\'s masks, grasps ranked by the grasp-quality model; per part below) | '
              f'{r["first_pick_success"]:.1f} % | ≥ 80 % |' if r.get('first_pick_parts') else
              f'| first pick without a model, on the {r["f1_model"]}\'s masks (pooled over the bench\'s seeds) | '
              f'{r["first_pick_success"]} % | ≥ 80 % |'),
             f'| class-agnostic bins generated, 2 workers, synthetic | {r["frames_per_s"]:.2f} frames/s '
             f'({r["frames_per_s"] / 0.39:.1f}x the report\'s 0.39) | ≥ 10x |' if r['frames_per_s'] else
             '| data generation | not measured | ≥ 10x |',
             f'| the same, real-emulated stereo | {r["frames_per_s_real"]:.2f} frames/s '
             f'({r["frames_per_s_real"] / 0.39:.1f}x) | |' if r['frames_per_s_real'] else '',
             _time_to_model_row(r.get('time_to_model')), '',
             '## Segmentation of unseen parts (test splits, real-emulated stereo)', '',
             'Mean F1 per model: ' + ', '.join(f'{k} {v:.3f}' for k, v in r['f1_by_model'].items()) + '.', '']
    models = [*r['f1_by_model'], 'baseline']
    lines += ['| set | ' + ' | '.join(f'{m} F1 | AP50' for m in models) + ' |',
              '| --- |' + ' --- | --- |' * len(models)]
    for name, row in r['datasets'].items():
        cells = [pct((row.get(m) or {}).get(k)) for m in models for k in ('f1', 'AP50')]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    lines += ['', f'UCN clustering: {r["clustering"]}.', '', '## First pick without a model', '']
    lines += [f'- {k}: {v} %' for k, v in (r['first_pick_sources'] or {}).items()]
    if r.get('first_pick_parts'):
        lines += ['', 'Every built-in part (`bash bench/first_pick_parts.sh`: the Mask R-CNN\'s masks, grasps '
                  'ranked by `grasp_quality.json`, 50 executed picks per bin):', '',
                  '| part | bins (seeds) | picks succeeded | failed picks | cycles without a pick |',
                  '| --- | --- | --- | --- | --- |']
        for part, row in r['first_pick_parts']['parts'].items():
            failures, no_pick = (', '.join(f'{n} {reason}' for reason, n in sorted(row[k].items())) or '–'
                                 for k in ('failures', 'no_pick'))
            lines.append(f'| {part} | {" ".join(map(str, sorted(row["seeds"])))} | {row["successes"]} / '
                         f'{row["attempts"]} ({row["success_rate"]:.1f} %) | {failures} | {no_pick} |')
        summary = r['first_pick_parts']
        lines.append(f'| mean over the parts | | {summary["mean"]:.1f} % | | |')
        if 'pooled' in summary:
            lines.append(f'| all picks pooled | | {summary["pooled"]:.1f} % | | |')
    if r.get('carried_over'):
        lines += ['', 'Carried over from the previous report (their runs were not in the work folders given): '
                  + ', '.join(f'`{k}`' for k in r['carried_over']) + '.']
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--uois', default='runs/uois', help='bench/uois.sh work folder')
    parser.add_argument('--registration', default='results/modelfree/registration.json')
    parser.add_argument('--picking', default='results/picking_model_free/results.json')
    parser.add_argument('--time-to-model', default='results/modelfree/time_to_model.json',
                        help='bench/time_to_model.sh\'s WORKDIR/time_to_model.json')
    parser.add_argument('--parts', default='results/picking_model_free_parts',
                        help='bench/first_pick_parts.sh\'s output folder')
    parser.add_argument('--out', default='results/modelfree')
    args = parser.parse_args()
    results = gather(Path(args.uois), Path(args.registration), Path(args.picking), Path(args.time_to_model),
                     Path(args.parts))
    previous_path = Path(args.out) / 'results.json'
    if previous_path.is_file():           # figures whose runs are gone (another machine) stay as they were
        results = carry_over(results, json.loads(previous_path.read_text()))
    atomic.write_json(Path(args.out) / 'results.json', results)
    atomic.write_text(Path(args.out) / 'report.md', markdown(results))
    print(markdown(results))


if __name__ == '__main__':
    main()
