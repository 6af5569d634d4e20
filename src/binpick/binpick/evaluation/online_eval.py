"""Pose figures of a running cell against the simulated cell's ground truth (evaluation only)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from binpick.evaluation.pose_error import add_or_adds, is_correct


@dataclass
class OnlineScore:
    """Counts over frames: estimates correct by ADD(-S) < 10 % of the diameter against the nearest
    ground-truth part, and ground-truth parts found by at least one correct estimate."""

    frames: int = 0
    estimates: int = 0
    correct: int = 0
    parts: int = 0
    found: int = 0

    def add(self, T_estimates: list[np.ndarray], T_truth: list[np.ndarray], obj, pts_m: np.ndarray) -> None:
        """One frame: estimated and true ``T_cam_obj`` (4x4, metres)."""
        ok = np.zeros((len(T_estimates), len(T_truth)), dtype=bool)
        for i, T in enumerate(T_estimates):
            for j, G in enumerate(T_truth):
                ok[i, j] = is_correct(add_or_adds(T, G, pts_m, obj.info.is_symmetric), obj.info.diameter_m)
        self.frames += 1
        self.estimates += len(T_estimates)
        self.parts += len(T_truth)
        self.correct += int(ok.any(axis=1).sum())
        self.found += int(ok.any(axis=0).sum())

    @property
    def precision(self) -> float:
        return self.correct / self.estimates if self.estimates else float('nan')

    @property
    def recall(self) -> float:
        return self.found / self.parts if self.parts else float('nan')


def table(rows: dict[str, OnlineScore], metric: str) -> str:
    """A markdown table, one row per model version."""
    lines = [f'| pose model | frames | estimates | correct ({metric}) | precision (%) | parts | found | recall (%) |',
             '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for name, s in rows.items():
        lines.append(f'| {name} | {s.frames} | {s.estimates} | {s.correct} | {100 * s.precision:.1f} | {s.parts} | '
                     f'{s.found} | {100 * s.recall:.1f} |')
    return '\n'.join(lines)
