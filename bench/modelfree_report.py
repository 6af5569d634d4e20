"""results/modelfree/results.json and report.md: the figures of issue 16 gathered from the runs that measure
them (each figure names the command that printed it).

    .venv/bin/python bench/modelfree_report.py [--uois runs/uois] [--out results/modelfree]

Reads WORK/eval_ucn.json and WORK/eval_baseline.json (bench/uois.sh), WORK/synth_speed_syn.json and
WORK/synth_speed.json (bench/synth_speed.py --shapes --domain synthetic|real --json ...),
results/modelfree/registration.json (bench/registration.py) and results/picking_model_free/results.json
(binpick pick-bench --model-free).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from binpick.data import atomic

UCN_ROW = 'no model, masks by the UCN'


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def gather(work: Path, registration: Path, picking: Path) -> dict:
    """The headline figures (None where the run is missing) and the per-dataset rows."""
    ucn, baseline = _load(work / 'eval_ucn.json'), _load(work / 'eval_baseline.json')
    speed, reg, picks = _load(work / 'synth_speed_syn.json'), _load(registration), _load(picking)
    speed_real = _load(work / 'synth_speed.json')
    ucn_pick = next((v for k, v in (picks or {}).get('success_rate', {}).items() if k.startswith(UCN_ROW)), None)
    return {
        'f1_unseen': ucn and ucn['mean_f1'], 'f1_baseline': baseline and baseline['mean_f1'],
        'chamfer_mm': reg and reg['chamfer_mm'], 'diameter_error_max': reg and reg['diameter_error_max'],
        'first_pick_success': ucn_pick, 'frames_per_s': speed and max(speed['frames_per_s'].values()),
        'frames_per_s_real': speed_real and max(speed_real['frames_per_s'].values()),
        'first_pick_sources': (picks or {}).get('success_rate'), 'synth_speed': [speed, speed_real],
        'clustering': ucn and ucn.get('clustering'),
        'datasets': {Path(d).name: {'ucn': ucn['datasets'][d], 'baseline': (baseline or {}).get('datasets', {}).get(d)}
                     for d in (ucn or {}).get('datasets', {})},
    }


def markdown(r: dict) -> str:
    def pct(x):
        return '–' if x is None else f'{x:.3f}'
    lines = ['# Parts nobody registered: figures', '',
             'Regenerate: `bash bench/uois.sh`; `python bench/synth_speed.py --shapes --domain synthetic --json '
             'runs/uois/synth_speed_syn.json` (and `--domain real ... synth_speed.json`); `python '
             'bench/registration.py`; `binpick pick-bench --model-free --uois runs/uois/uois.pt --no-ground-truth '
             '--no-baseline --attempts 50 --out results/picking_model_free`; then `python bench/modelfree_report.py`.',
             '',
             '| figure | measured | target |', '| --- | --- | --- |',
             f'| object-level F1 at IoU ≥ 0.5, unseen parts, real-emulated (mean of the sets) | {pct(r["f1_unseen"])} '
             f'(baseline {pct(r["f1_baseline"])}) | ≥ 0.80 and above the baseline |',
             f'| reconstruction: mean Chamfer distance | {r["chamfer_mm"]:.2f} mm | ≤ 2 mm |' if r['chamfer_mm'] else
             '| reconstruction | not measured | ≤ 2 mm |',
             f'| first pick without a model, on the UCN masks | {r["first_pick_success"]} % | ≥ 80 % |',
             f'| class-agnostic bins generated, 2 workers, synthetic | {r["frames_per_s"]:.2f} frames/s '
             f'({r["frames_per_s"] / 0.39:.1f}x the report\'s 0.39) | ≥ 10x |' if r['frames_per_s'] else
             '| data generation | not measured | ≥ 10x |',
             f'| the same, real-emulated stereo | {r["frames_per_s_real"]:.2f} frames/s '
             f'({r["frames_per_s_real"] / 0.39:.1f}x) | |' if r['frames_per_s_real'] else '', '',
             '## Segmentation of unseen parts (test splits, real-emulated stereo)', '',
             '| set | UCN precision | recall | F1 | AP50 | baseline F1 | baseline AP50 |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    for name, row in r['datasets'].items():
        u, b = row['ucn'], row['baseline'] or {}
        lines.append(f'| {name} | {u["precision"]:.3f} | {u["recall"]:.3f} | {u["f1"]:.3f} | {u["AP50"]:.3f} | '
                     f'{pct(b.get("f1"))} | {pct(b.get("AP50"))} |')
    lines += ['', f'Clustering: {r["clustering"]}.', '', '## First pick without a model', '']
    lines += [f'- {k}: {v} %' for k, v in (r['first_pick_sources'] or {}).items()]
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--uois', default='runs/uois', help='bench/uois.sh work folder')
    parser.add_argument('--registration', default='results/modelfree/registration.json')
    parser.add_argument('--picking', default='results/picking_model_free/results.json')
    parser.add_argument('--out', default='results/modelfree')
    args = parser.parse_args()
    results = gather(Path(args.uois), Path(args.registration), Path(args.picking))
    atomic.write_json(Path(args.out) / 'results.json', results)
    atomic.write_text(Path(args.out) / 'report.md', markdown(results))
    print(markdown(results))


if __name__ == '__main__':
    main()
