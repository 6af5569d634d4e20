"""How long `binpick bringup --sim` takes to stop every node after SIGINT or SIGTERM, with both cores busy.

Each round starts `binpick bringup --sim` as a script's background job would (SIGINT inherited as
ignored), with one busy process per core beside it, waits until the graph publishes poses (every node
running, models loaded), sends the signal, and times until the bringup and all its node processes have
exited. Prints every round and merges `stop_s` (the slowest round) into --results. Usage:

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python bench/cell_stop.py --rounds 3 \
        --results results/cell/results.json
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')

from cell_throughput import update_results  # noqa: E402

HOG = 'import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass'


def one_round(sig: signal.Signals, run: Path, k: int, timeout_s: float) -> tuple[float, int]:
    """Seconds from the signal until every process of the graph has exited, and the bringup's exit code."""
    import psutil

    from binpick.commands.demo import wait_on_graph
    from binpick.nodes.cell_probe import CellClient
    namespace = f'/stop{os.getpid()}_{k}'
    err = run / f'bringup{k}.err'
    with err.open('w') as err_file:   # the child keeps its own copy of the descriptor
        bringup = subprocess.Popen(
            [sys.executable, '-m', 'binpick.cli', 'bringup', '--sim', '--namespace', namespace, '--bank',
             str(run / f'bank{k}'), '--models', str(run / f'models{k}')],
            stdout=subprocess.DEVNULL, stderr=err_file,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))   # what `cmd &` in a script does
    hogs = [subprocess.Popen([sys.executable, '-c', HOG.format(s=timeout_s + 120)]) for _ in range(os.cpu_count() or 2)]
    try:
        with CellClient(namespace) as cell:   # every node running, models loaded
            wait_on_graph(lambda: cell.probe.serving() != '', timeout_s, {'bringup': bringup},
                          f'round {k}: waiting for the first poses')
        processes = [psutil.Process(bringup.pid), *psutil.Process(bringup.pid).children(recursive=True)]
        t0 = time.monotonic()
        bringup.send_signal(sig)
        _, alive = psutil.wait_procs(processes, timeout=60)
        took = time.monotonic() - t0
        if alive:
            raise SystemExit(f'round {k}: still running 60 s after {sig.name}: {[p.pid for p in alive]}')
        late = [line for line in err.read_text().splitlines() if 'did not stop' in line]
        for line in late:
            print(f'  {line}', flush=True)
        return took, bringup.wait()
    finally:
        for p in hogs:
            p.kill()
            p.wait()
        if bringup.poll() is None:   # a failed round leaves nothing behind
            for p in [*psutil.Process(bringup.pid).children(recursive=True), psutil.Process(bringup.pid)]:
                p.kill()
            bringup.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=3, help='rounds per signal')
    parser.add_argument('--timeout', type=float, default=180.0, help='seconds to wait for the first poses')
    parser.add_argument('--results', help='merge stop_s into this JSON (e.g. results/cell/results.json)')
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix='binpick_stop_'))
    times: dict[str, list[float]] = {}
    rounds = [sig for sig in (signal.SIGINT, signal.SIGTERM) for _ in range(args.rounds)]
    for k, sig in enumerate(rounds):
        took, code = one_round(sig, run, k, args.timeout)
        times.setdefault(sig.name, []).append(took)
        print(f'{sig.name}: every node stopped after {took:.2f} s (exit code {code})', flush=True)
    slowest = max(t for ts in times.values() for t in ts)
    print(f'slowest stop: {slowest:.2f} s (target 10 s), {os.cpu_count()} cores busy with another process, '
          'started as a background job')
    if args.results:
        update_results(Path(args.results), {'stop_s': round(slowest, 2), 'stop_rounds_s': times})


if __name__ == '__main__':
    main()
