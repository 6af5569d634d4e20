"""Evaluation rules: which ground-truth instances are targets and which estimates are scored.

- ``bop19`` (default), the BOP Challenge 2019+ rule: instances at least 10 % visible are targets; per
  image and object only the ``n`` best-scored estimates are kept, ``n`` the number of targets there;
- ``binpick``, version 0.1.0's rule: instances at least 30 % visible are targets; every estimate is scored.

No imports beyond the standard library: the command line reads these names at start-up.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalRule:
    """Which ground-truth instances are targets and how many estimates per image are scored."""

    name: str
    min_visib_fract: float
    top_n_per_target: bool   # keep only as many best-scored estimates per image and object as targets


RULES = {'bop19': EvalRule('bop19', 0.1, True), 'binpick': EvalRule('binpick', 0.3, False)}
DEFAULT_RULE = 'bop19'
