"""results/picking/: report.md, results.json and cycles.json of a pick-bench run."""
from __future__ import annotations

import math
import platform
from pathlib import Path

from binpick.data import atomic
from binpick.data.jsonfields import load_json
from binpick.evaluation.pick_bench import NO_PICK, PICK_FAILURES


def _pct(x: float) -> str:
    return '–' if math.isnan(x) else f'{x:.1f} %'


def headline(results: dict) -> dict:
    """The figures the issue names: success rate per model, the ground-truth ceiling, collisions,
    median planning time over all sources, failures per source."""
    sources = results['sources']
    models = {name: s['success_rate'] for name, s in sources.items() if name != 'ground truth'}
    planned = [s['plan_time_ms_median'] for s in sources.values() if not math.isnan(s['plan_time_ms_median'])]
    return {
        'success_rate': models,
        'gt_success_rate': sources['ground truth']['success_rate'] if 'ground truth' in sources else None,
        'collisions': sum(s['collisions'] for s in sources.values()),
        'plan_time_ms_median': sorted(planned)[len(planned) // 2] if planned else None,
        'failures': {name: s['failures'] for name, s in sources.items()},
    }


def markdown(results: dict) -> str:
    sources = results['sources']
    seeds = results['seed'] if isinstance(results['seed'], list) else [results['seed']]
    lines = [f'# Pick bench: {results["object"]}', '',
             f'Regenerate: `binpick pick-bench --object {results["object"]} --attempts '
             f'{results["attempts_per_source"]} --seed {" ".join(map(str, seeds))} --fill {results["fill"]}'
             + (' --model-free ...` (each learned-mask row: `--uois` with that checkpoint).'
                if results.get('model_free') else ' ...` (each model row: `--pose-ckpt` with that '
                'checkpoint; `--ungated-row` for the row without the gate).'), '',
             f'Planner: {results["planner"]}. Every source picks in its own cell made from seed '
             f'{" and ".join(map(str, seeds))}' + (f' ({results["attempts_per_source"]} picks each, pooled)'
                                                   if len(seeds) > 1 else '')
             + ', so the bins start alike. Success rate = successful picks / executed picks; '
             'a pick that touches the tote counts as failed (collision). Cycles without a pick are counted apart.',
             '', '| source | success | picks | tote contacts | median planning | cycle (median) |',
             '| --- | --- | --- | --- | --- | --- |']
    for name, s in sources.items():
        lines.append(f'| {name} | {_pct(s["success_rate"])} | {s["successes"]} / {s["attempts"]} | {s["collisions"]} '
                     f'| {s["plan_time_ms_median"]:.0f} ms | {s["cycle_s_median"]:.1f} s |')
    reasons = list(PICK_FAILURES) + list(NO_PICK)
    lines += ['', 'Failures (executed picks, then cycles without a pick):', '',
              '| source | ' + ' | '.join(reasons) + ' |', '| --- |' + ' --- |' * len(reasons)]
    for name, s in sources.items():
        lines.append(f'| {name} | ' + ' | '.join(str(s['failures'].get(r, 0)) for r in reasons) + ' |')
    figures = [(name, s['figure']) for name, s in sources.items() if s.get('figure')]
    if figures:
        lines += ['', 'The first frame of each source: its masks, the cost map and the grasp chosen from it.', '']
        lines += [f'![{name}]({file})' for name, file in figures]
    lines += ['', f'{platform.machine()}, {results.get("threads", "all")} torch threads.', '']
    return '\n'.join(lines)


SETTINGS = ('object', 'attempts_per_source', 'seed', 'fill', 'planner')


def previous_run(out: Path, results: dict) -> tuple[dict, list[dict]]:
    """The sources and cycles already in ``out`` when they were run with the same settings (a run to
    resume or to add sources to); else ``results`` as given and no cycles."""
    if not (out / 'results.json').is_file() or not (out / 'cycles.json').is_file():
        return results, []
    earlier = load_json(out / 'results.json')
    if not isinstance(earlier, dict) or any(earlier.get(k) != results[k] for k in SETTINGS):
        return results, []
    return {**results, 'sources': dict(earlier.get('sources', {}))}, list(load_json(out / 'cycles.json'))


def write_report(results: dict, cycles: list[dict], out: Path) -> None:
    """results.json (headline figures first), cycles.json (one record per cycle), report.md."""
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / 'results.json', {**headline(results), **results})
    atomic.write_json(out / 'cycles.json', cycles)
    atomic.write_text(out / 'report.md', markdown(results))
