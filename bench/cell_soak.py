"""Memory of the online cell over a long run, with a self-training job in the middle.

Starts the graph as `bench/cell_throughput.py` does, waits for the first poses and then --warmup seconds
of the running graph, then samples the resident memory of every node (with its children: the retrainer's
job runs in one) every --every seconds for --duration seconds. Halfway it starts a self-training job
through the retrainer's service and follows it to the end. Prints a per-node table (after the warm-up,
before the job, after the job, at the end), writes the samples and a plot (RSS per node over time, the
job shaded), and merges `memory_growth_mb` into --results. Usage:

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python bench/cell_soak.py --duration 1800 \
        --out results/cell --results results/cell/results.json
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')

import numpy as np  # noqa: E402
from cell_throughput import NAMESPACE, cell_arguments, rss_mb, start_cell, update_results  # noqa: E402

WINDOW_S = 300.0     # the medians of the table are over windows this long


def plot(samples: list[dict], job: tuple[float, float] | None, out: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    t = [s['t_s'] / 60 for s in samples]
    for name in samples[0]['rss_mb']:
        ax.plot(t, [s['rss_mb'][name] for s in samples], label=name)
    if job is not None:
        ax.axvspan(job[0] / 60, job[1] / 60, color='grey', alpha=0.2, label='self-training job')
    ax.set(xlabel='minutes after the warm-up', ylabel='resident memory (MB)', title='binpick cell: memory per node')
    ax.legend(fontsize=7, loc='upper left')
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--duration', type=float, default=1800.0, help='measured seconds (after the warm-up)')
    parser.add_argument('--warmup', type=float, default=120.0, help='seconds of the running graph (from its first '
                        'poses) before the first sample')
    parser.add_argument('--every', type=float, default=5.0, help='seconds between memory samples')
    parser.add_argument('--out', default='results/cell', help='folder for soak.json and soak.png')
    parser.add_argument('--results', help='merge memory_growth_mb into this JSON')
    parser.add_argument('--job-frames', type=int, default=40, help='the job trains on the newest this many frames')
    parser.add_argument('--report', metavar='SOAK_JSON', help='only print and plot the figures of a saved run')
    cell_arguments(parser)
    args = parser.parse_args()
    if args.report:
        from binpick.data.jsonfields import load_json
        report(load_json(Path(args.report)), Path(args.out), Path(args.results) if args.results else None)
        return

    from binpick.commands.cell import stop_all
    from binpick.commands.demo import wait_on_graph
    from binpick.nodes.cell_probe import CellClient

    procs = start_cell(args, Path(tempfile.mkdtemp(prefix='binpick_soak_')))
    samples, job, outcome = [], None, None

    def wait(predicate, timeout_s: float, what: str) -> None:
        wait_on_graph(predicate, timeout_s, procs, what)

    def sample(t0: float) -> None:
        samples.append({'t_s': time.monotonic() - t0, 'rss_mb': {n: rss_mb(p.pid) for n, p in procs.items()}})
        print(f'{samples[-1]["t_s"] / 60:5.1f} min: {sum(samples[-1]["rss_mb"].values()):.0f} MB', flush=True)

    def sample_due(t0: float) -> None:
        if time.monotonic() - t0 - samples[-1]['t_s'] >= args.every:
            sample(t0)

    try:
        with CellClient(NAMESPACE) as cell:
            wait(lambda: cell.probe.serving() != '', 600, 'waiting for the first poses')
            time.sleep(args.warmup)       # the warm-up counts from the first poses: the graph runs through it
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.duration:
                sample(t0)
                if job is None and time.monotonic() - t0 >= args.duration / 2:
                    wait(cell.retrainer_ready, 60, 'waiting for the retrainer')
                    start = time.monotonic() - t0
                    print(f'job: {cell.trigger(1, wait, max_frames=args.job_frames)}', flush=True)
                    outcome = cell.follow_job(lambda *_: sample_due(t0), wait)     # the job's child counts
                    job = (start, time.monotonic() - t0)
                    print(f'job done in {job[1] - job[0]:.0f} s: {outcome.message}', flush=True)
                    sample(t0)
                time.sleep(args.every)
            sample(t0)
    finally:
        stop_all(procs)

    soak = {'source': args.source, 'period_s': args.period, 'warmup_s': args.warmup, 'duration_s': args.duration,
            'job_s': job, 'job': outcome.message if outcome else None, 'samples': samples}
    report(soak, Path(args.out), Path(args.results) if args.results else None)


def total(sample: dict) -> float:
    return sum(sample['rss_mb'].values())


def report(soak: dict, out: Path, results: Path | None) -> None:
    """Print the per-node table, write soak.json and soak.png, merge the growth into ``results``.

    Nodes give freed memory back every 30 s (``trim_memory_s``), so a node's resident size swings by up to a
    few hundred MB with the frame it is working on; one sample at each end would measure that phase, not
    growth. Each column is therefore the median over a window of ``WINDOW_S``, and growth is the end window's
    median minus the first's; ``trend`` is the least-squares slope over the samples outside the job times the
    duration."""
    from binpick.data import atomic
    samples, job = soak['samples'], soak['job_s']
    t = np.array([s['t_s'] for s in samples])
    end = t[-1]
    start_job, end_job = (job[0], job[1]) if job else (end, end)
    windows = {'after warm-up': (0.0, WINDOW_S), 'before the job': (start_job - WINDOW_S, start_job),
               'after the job': (end_job, end_job + WINDOW_S), 'end': (end - WINDOW_S, end + 1.0)}

    def median(value, window) -> float:
        picked = [value(s) for s, ts in zip(samples, t) if window[0] <= ts <= window[1]]
        return float(np.median(picked)) if picked else float('nan')

    outside_job = [k for k, ts in enumerate(t) if not start_job <= ts <= end_job]

    def trend(value) -> float:     # the job's own memory (its child) is not growth: fitted without it
        return float(np.polyfit(t[outside_job], [value(samples[k]) for k in outside_job], 1)[0] * (end - t[0]))

    print(f'\nmedians over {WINDOW_S / 60:.0f}-minute windows (MB)\n| node | ' + ' | '.join(windows)
          + ' | growth | trend |\n| --- |' + ' --- |' * (len(windows) + 2))
    figures = {}
    for n in [*samples[0]['rss_mb'], 'all']:
        value = total if n == 'all' else (lambda s, n=n: s['rss_mb'][n])
        m = [median(value, w) for w in windows.values()]
        figures[n] = {'growth_mb': m[-1] - m[0], 'trend_mb': trend(value)}
        print(f'| {n} | ' + ' | '.join(f'{v:.0f}' for v in m)
              + f' | {figures[n]["growth_mb"]:+.0f} | {figures[n]["trend_mb"]:+.0f} |')
    growth = figures['all']['growth_mb']
    soak = {**soak, 'window_s': WINDOW_S, 'memory_growth_mb': growth, 'memory_trend_mb': figures['all']['trend_mb'],
            'memory_growth_endpoints_mb': total(samples[-1]) - total(samples[0]), 'per_node': figures}
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / 'soak.json', soak)
    plot(samples, job, out / 'soak.png')
    print(f'memory growth of all nodes over {end / 60:.0f} min: {growth:+.0f} MB (trend '
          f'{figures["all"]["trend_mb"]:+.0f} MB, endpoints {soak["memory_growth_endpoints_mb"]:+.0f} MB); '
          f'{out / "soak.json"}, {out / "soak.png"}')
    if results is not None:
        update_results(results, {'memory_growth_mb': growth,
                                 'soak': {k: v for k, v in soak.items() if k != 'samples'}})


if __name__ == '__main__':
    main()
