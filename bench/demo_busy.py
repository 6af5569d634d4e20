"""`binpick demo --quick` to the end with busy processes beside it: how many rounds pass.

Each round starts two (``--hogs``) processes that keep a core busy each, runs ``binpick demo --quick`` in a
fresh work folder and records its exit code and minutes; the hogs stop with the round. Prints every round and
a last line ``passed K / N``; exits 1 when a round failed. The demos' logs stay in ``--work``. Usage:

    .venv/bin/python bench/demo_busy.py --rounds 3 --work /tmp/demo_busy
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')

HOG = 'while True: pass'


def one_round(work: Path, hogs: int, extra: list[str]) -> tuple[int, float]:
    """Exit code and minutes of one quick demo beside ``hogs`` busy processes."""
    work.mkdir(parents=True, exist_ok=True)
    busy = [subprocess.Popen([sys.executable, '-c', HOG]) for _ in range(hogs)]
    t0 = time.monotonic()
    try:
        with (work / 'demo.log').open('w') as log:
            code = subprocess.call([sys.executable, '-m', 'binpick.cli', 'demo', '--quick', '--work', str(work),
                                    *extra], stdout=log, stderr=subprocess.STDOUT)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    return code, (time.monotonic() - t0) / 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--hogs', type=int, default=2, help='busy processes beside each demo')
    parser.add_argument('--work', type=Path, default=Path('binpick_demo_busy'))
    parser.add_argument('demo_args', nargs='*', help='more options for binpick demo (after --)')
    args = parser.parse_args()
    passed = 0
    for k in range(args.rounds):
        code, minutes = one_round(args.work / f'round{k}', args.hogs, args.demo_args)
        passed += code == 0
        tail = (args.work / f'round{k}' / 'demo.log').read_text().strip().splitlines()[-1:]
        print(f'round {k + 1}: rc {code}, {minutes:.1f} min, {args.hogs} busy processes; {" ".join(tail)}',
              flush=True)
    print(f'passed {passed} / {args.rounds}')
    return 0 if passed == args.rounds else 1


if __name__ == '__main__':
    sys.exit(main())
