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

from cell_throughput import NAMESPACE, cell_arguments, rss_mb, start_cell, update_results  # noqa: E402


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
    parser.add_argument('--every', type=float, default=15.0, help='seconds between memory samples')
    parser.add_argument('--out', default='results/cell', help='folder for soak.json and soak.png')
    parser.add_argument('--results', help='merge memory_growth_mb into this JSON')
    parser.add_argument('--job-frames', type=int, default=40, help='the job trains on the newest this many frames')
    cell_arguments(parser)
    args = parser.parse_args()

    from binpick.commands.cell import stop_all
    from binpick.commands.demo import wait_on_graph
    from binpick.data import atomic
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

    names = list(samples[0]['rss_mb'])
    before_job = max((s for s in samples if job is None or s['t_s'] <= job[0]), key=lambda s: s['t_s'])
    after_job = min((s for s in samples if job is not None and s['t_s'] >= job[1]), key=lambda s: s['t_s'],
                    default=samples[-1])
    rows = {'after warm-up': samples[0], 'before the job': before_job, 'after the job': after_job,
            'end': samples[-1]}
    print('\n| node | ' + ' | '.join(rows) + ' | growth (MB) |\n| --- |' + ' --- |' * (len(rows) + 1))
    for n in [*names, 'all']:
        value = (lambda s: sum(s['rss_mb'].values())) if n == 'all' else (lambda s, n=n: s['rss_mb'][n])
        print(f'| {n} | ' + ' | '.join(f'{value(s):.0f}' for s in rows.values())
              + f' | {value(samples[-1]) - value(samples[0]):+.0f} |')
    growth = sum(samples[-1]['rss_mb'].values()) - sum(samples[0]['rss_mb'].values())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    soak = {'source': args.source, 'period_s': args.period, 'warmup_s': args.warmup, 'duration_s': args.duration,
            'job_s': job, 'job': outcome.message if outcome else None, 'memory_growth_mb': growth,
            'samples': samples}
    atomic.write_json(out / 'soak.json', soak)
    plot(samples, job, out / 'soak.png')
    print(f'memory growth of all nodes over {args.duration / 60:.0f} min: {growth:+.0f} MB; '
          f'{out / "soak.json"}, {out / "soak.png"}')
    if args.results:
        update_results(Path(args.results), {'memory_growth_mb': growth,
                                            'soak': {k: v for k, v in soak.items() if k != 'samples'}})


if __name__ == '__main__':
    main()
