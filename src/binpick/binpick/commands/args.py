"""Argument types and helpers shared by the ``binpick`` subcommands."""
from __future__ import annotations

import argparse
import os


def shard(text: str) -> tuple[int, int]:
    try:
        i, m = (int(v) for v in text.split('/'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: expected i/M, e.g. 0/4') from None
    if not 0 <= i < m:
        raise argparse.ArgumentTypeError(f'{text!r}: expected 0 <= i < M')
    return i, m


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {value}')
    return value


def set_threads(threads: int | None) -> None:
    import torch
    torch.set_num_threads(threads or max(1, os.cpu_count() or 1))
