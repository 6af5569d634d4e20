"""The ``binpick`` command: each group of subcommands registers itself from ``binpick.commands``.

Expected failures (bad files, bad arguments; ``BinpickError``) become a one-line message and exit
code 1; argument errors exit with 2.
"""
from __future__ import annotations

import argparse
import signal
import sys

from binpick import __version__
from binpick.commands import catalog, cell, demo, picking, pose, register, segmentation, selftrain, synth, uois
from binpick.errors import BinpickError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='binpick', description='Self-training 6D pose estimation and bin '
                                     'picking for ROS 2 cells.')
    parser.add_argument('--version', action='version', version=f'binpick {__version__}')
    sub = parser.add_subparsers(dest='command', required=True)
    for group in (catalog, synth, segmentation, pose, selftrain, cell, picking, demo, register, uois):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `binpick catalog list | head` exits quietly
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BinpickError as e:
        print(f'binpick: error: {e}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
