"""Argument types and helpers shared by the ``binpick`` subcommands."""
from __future__ import annotations

import argparse
import os
from pathlib import Path


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


def split_dirs(datasets: list[str], split: str) -> tuple[list[Path], list[Path | None]]:
    """Each dataset's ``split`` folder and where its ground truth is (real domains keep it apart)."""
    from binpick.data.bop import eval_gt_dir
    from binpick.errors import BinpickError
    splits = []
    for d in map(Path, datasets):
        if not (d / split).is_dir():
            raise BinpickError(f'{d}: no {split}/ split (make one with binpick synth-shapes or binpick synth)')
        splits.append(d / split)
    return splits, [eval_gt_dir(s) for s in splits]


def refuse_eval_gt(splits: list[Path], gt_dirs: list[Path | None], use_eval_gt: bool) -> None:
    """Refuse training on a real-emulated split (its ground truth kept apart for evaluation) unless
    ``use_eval_gt`` says it trains the upper bound."""
    from binpick.errors import BinpickError
    for split, gt_dir in zip(splits, gt_dirs):
        if gt_dir is not None and not use_eval_gt:
            raise BinpickError(f'{split} has no labels (real-emulated data); training on its evaluation '
                               'ground truth is only for the upper bound: pass --use-eval-gt to do that')
