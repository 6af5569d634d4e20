"""The experiment's report: markdown tables shaped like the paper's Table 2, and plots like its Fig. 5
(recall per iteration) plus the pseudo labels accepted per iteration and their precision."""
from __future__ import annotations

from pathlib import Path

from binpick.data import atomic

ROW_NAMES = {'appearance': 'self-training, d_a only', 'geometry': 'self-training, d_g only',
             'both': 'self-training, d_a and d_g (paper)',
             'calibrated': 'self-training, thresholds calibrated on synthetic data (beyond the paper)',
             'both+segmentation': 'joint self-training: d_a and d_g, the accepted poses also train the segmentation '
                                  '(beyond the paper)'}


def gap_closed(recall: float, lb: float, ub: float) -> float:
    """Share of the LB -> UB gap closed by ``recall`` (nan when UB <= LB)."""
    return (recall - lb) / (ub - lb) if ub > lb else float('nan')


def _finite(x: float) -> float | None:
    """``x``, or None (JSON null) for nan: results.json stays valid JSON."""
    return None if x != x else x


def summary(results: dict) -> dict:
    """The headline figures: ``recall`` (method -> ADD(-S) recall of its last iteration, LB and UB included),
    ``gap_closed`` and ``precision_iter1`` (criterion -> share of the LB -> UB gap closed, None when UB <= LB;
    precision of the labels accepted in iteration 1)."""
    runs = {c: r for c, r in results['selftrain'].items() if r}
    return {'recall': {'LB': results['recall_lb'], 'UB': results['recall_ub'],
                       **{c: r[-1]['evaluation']['recall'] for c, r in runs.items()}},
            'gap_closed': {c: _finite(gap_closed(r[-1]['evaluation']['recall'], results['recall_lb'],
                                                 results['recall_ub'])) for c, r in runs.items()},
            'precision_iter1': {c: r[0]['evaluation']['precision_accepted'] for c, r in runs.items()},
            'seg_ap50': {'LB': results.get('seg_ap50_lb'),
                         **{c: r[-1]['evaluation']['seg_ap50'] for c, r in runs.items()
                            if 'seg_ap50' in r[-1]['evaluation']}}}


def _pct(x: float, unit: str = '') -> str:
    return 'n/a' if x != x else f'{100 * x:.1f}{unit}'


def markdown(results: dict) -> str:
    lb, ub, metric = results['recall_lb'], results['recall_ub'], results['metric']
    runs = results['selftrain']
    lines = [f'# Self-training experiment: {results["object"]}', '',
             f'{metric} recall (< 10 % of the diameter) on the real-emulated test split, masks predicted by the '
             'segmentation model trained on synthetic bins; evaluation rule '
             f'`{results.get("rule", "binpick (targets at least 30 % visible, every estimate scored)")}`.', '',
             f'| method | iterations | {metric} recall (%) | LB -> UB gap closed |', '| --- | --- | --- | --- |',
             f'| LB: trained on synthetic bins only | 0 | {_pct(lb)} | 0 % |']
    common = min((len(r) for r in runs.values() if r), default=0)     # compare all criteria at one iteration
    for criterion in ROW_NAMES:
        records = runs.get(criterion) or []
        shown = sorted({common - 1, len(records) - 1}) if criterion in ('both', 'calibrated') else [common - 1]
        for r in shown:
            if 0 <= r < len(records):
                recall = records[r]['evaluation']['recall']
                lines.append(f'| {ROW_NAMES[criterion]} | {records[r]["iteration"]} | {_pct(recall)} | '
                             f'{_pct(gap_closed(recall, lb, ub), " %")} |')
    lines += [f'| UB: LB trained on the real-emulated train split\'s ground truth | - | {_pct(ub)} | 100 % |', '',
              '## Per iteration', '',
              '| criterion | iteration | accepted / candidates | tau_a | tau_g (mm) | precision of accepted (%) | '
              f'precision of all candidates (%) | {metric} recall (%) |',
              '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for criterion, records in runs.items():
        for r in records:
            ev = r['evaluation']
            tau_a = 'n/a' if r['tau_appearance'] is None else f'{r["tau_appearance"]:.3f}'
            tau_g = 'n/a' if r['tau_geometry_m'] is None else f'{1000 * r["tau_geometry_m"]:.2f}'
            lines.append(f'| {criterion} | {r["iteration"]} | {r["accepted"]} / {r["candidates"]} | {tau_a} | '
                         f'{tau_g} | {_pct(ev["precision_accepted"])} | {_pct(ev["precision_all"])} | '
                         f'{_pct(ev["recall"])} |')
    stopped = results.get('stopped') or {}
    if stopped:
        lines += ['', 'Stopped early (their earlier iterations stand):', '']
        lines += [f'- {ROW_NAMES.get(c, c)}: {why}' for c, why in stopped.items()]
    first = next((r[0] for r in runs.values() if r), {})
    lines += ['', f'Perceptual distance: `{first.get("perceptual", "?")}`; geometry: `{first.get("geometry", "?")}` '
              '(visible surface by hidden point removal, or the whole model).',
              'Precision is diagnosis only: it uses the evaluation ground truth, which self-training never reads.',
              _students(results.get('config', {}).get('selftrain', {})), '',
              '![recall per iteration](recall_per_iteration.png)', '',
              '![pseudo labels per iteration](pseudo_labels.png)', '']
    return '\n'.join(lines)


def _students(st: dict) -> str:
    """How the students were trained (the run's SelfTrainConfig as a dict)."""
    if not st:
        return ''
    mix = (f'{100 * st["synthetic_share"]:.0f} % of each student\'s labels are synthetic ground truth (beyond the '
           'paper)' if st.get('synthetic_share') else 'pseudo labels only (as the paper)')
    return (f'Students: {st["student_epochs"]} epochs each from their teacher, learning rate {st["student_lr"]:g}; '
            f'{mix}.')


def plot(results: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    lb, ub, runs = results['recall_lb'], results['recall_ub'], results['selftrain']
    fig, ax = plt.subplots(figsize=(6, 4))
    for criterion, records in runs.items():
        its = [0] + [r['iteration'] for r in records]
        ax.plot(its, [100 * lb] + [100 * r['evaluation']['recall'] for r in records], marker='o',
                label=ROW_NAMES[criterion])
    ax.axhline(100 * lb, color='grey', ls='--', label='LB (synthetic only)')
    ax.axhline(100 * ub, color='black', ls='--', label='UB (real ground truth)')
    ax.set(xlabel='self-training iteration', ylabel=f'{results["metric"]} recall (%)',
           title=f'{results["object"]}: real-emulated test split')
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic.write_figure(out / 'recall_per_iteration.png', fig, dpi=110)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for criterion, records in runs.items():
        its = [r['iteration'] for r in records]
        a1.plot(its, [r['accepted'] for r in records], marker='o', label=criterion)
        a2.plot(its, [100 * r['evaluation']['precision_accepted'] for r in records], marker='o', label=criterion)
    a1.set(xlabel='iteration', ylabel='pseudo labels accepted')
    a2.set(xlabel='iteration', ylabel='precision of accepted labels (%)', ylim=(0, 100))
    a1.legend(fontsize=8)
    fig.tight_layout()
    atomic.write_figure(out / 'pseudo_labels.png', fig, dpi=110)


def write_report(results: dict, out: str | Path) -> None:
    """report.md and the two PNGs into ``out`` (results.json is written by the experiment)."""
    out = Path(out)
    plot(results, out)
    atomic.write_text(out / 'report.md', markdown(results))
