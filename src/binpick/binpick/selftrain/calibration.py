"""Calibrated acceptance of pseudo labels, beyond the paper's μ+σ.

μ+σ knows nothing about what a correct pose scores: it accepts about the same share of candidates
whatever their quality. The synthetic domain has ground truth, so the teacher's candidates there tell
what correct poses score. :func:`fit_thresholds` picks the thresholds (τ_a on d_a, τ_g on d_g) that
accept the most synthetic candidates at a target precision; ``select(..., 'calibrated', calibration)``
applies them unchanged to any frames. Whether they transfer to the real domain is measured, not assumed
(``bench/pseudo_label_precision.py --calibration``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from binpick.data import atomic
from binpick.data.bank import Candidate
from binpick.data.bop import BopSplit
from binpick.data.errors import DataFormatError
from binpick.data.jsonfields import load_json, number
from binpick.evaluation.pose_error import add_or_adds, is_correct


@dataclass(frozen=True)
class Calibration:
    """Thresholds fitted on labelled candidates, and what they achieved there."""

    tau_appearance: float | None      # None: d_a is not used
    tau_geometry_m: float
    target_precision: float
    precision: float          # on the fitting candidates
    accepted_share: float     # of the fitting candidates
    candidates: int
    source: str = ''          # what the candidates came from (dataset, teacher)

    def save(self, path: str | Path) -> None:
        atomic.write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a calibration JSON; DataFormatError names the file and the field that is wrong."""
        doc = load_json(path)
        if not isinstance(doc, dict):
            raise DataFormatError(path, '', 'expected a JSON object')
        values = {k: number(doc, k, path, 'calibration') for k in
                  ('tau_geometry_m', 'target_precision', 'precision', 'accepted_share', 'candidates')}
        tau_a = None if doc.get('tau_appearance') is None else number(doc, 'tau_appearance', path, 'calibration')
        return cls(tau_a, values['tau_geometry_m'], values['target_precision'], values['precision'],
                   values['accepted_share'], int(values['candidates']), str(doc.get('source', '')))


def fit_thresholds(d_appearance, d_geometry_m, correct, target_precision: float = 0.9, min_accepted: int = 20,
                   grid: int = 40, source: str = '') -> Calibration:
    """The (τ_a, τ_g) pair, from a grid of the scores' quantiles (τ_a also unbounded), that accepts the
    most candidates with a precision of at least ``target_precision``; when no pair reaches it, the pair
    of highest precision among those accepting at least ``min_accepted``."""
    d_a, d_g = np.asarray(d_appearance, np.float64), np.asarray(d_geometry_m, np.float64)
    ok = np.asarray(correct, bool)
    if not (len(d_a) == len(d_g) == len(ok)) or len(ok) < min_accepted:
        raise ValueError(f'need at least {min_accepted} labelled candidates with both scores, got {len(ok)}')
    qs = np.linspace(0.02, 1.0, grid)
    taus_a = np.append(np.quantile(d_a, qs) + 1e-12, np.inf)
    taus_g = np.quantile(d_g, qs) + 1e-12
    best, best_key = None, None
    for ta in taus_a:
        for tg in taus_g:
            accepted = (d_a < ta) & (d_g < tg)
            n = int(accepted.sum())
            if n < min_accepted:
                continue
            precision = float(ok[accepted].mean())
            key = (precision >= target_precision, n if precision >= target_precision else precision)
            if best_key is None or key > best_key:
                best, best_key = (ta, tg, precision, n), key
    if best is None:
        raise ValueError(f'no thresholds accept {min_accepted} candidates')
    ta, tg, precision, n = best
    return Calibration(None if np.isinf(ta) else float(ta), float(tg), target_precision, precision, n / len(ok),
                       len(ok), source)


def candidates_correct(candidates: list[Candidate], gt_split: BopSplit, obj, pts_m: np.ndarray) -> np.ndarray:
    """(N,) bool: the candidate's pose is correct (ADD(-S) < 0.1 d against the nearest ground-truth
    instance of its frame). Uses ground truth: diagnosis and calibration on synthetic data only."""
    correct = np.zeros(len(candidates), dtype=bool)
    for n, c in enumerate(candidates):
        frame_gt = gt_split.annotations(c.scene_id)[1].get(c.im_id, [])
        errors = [add_or_adds(np.array(c.T_cam_obj), g.T_cam_obj, pts_m, obj.info.is_symmetric)
                  for g in frame_gt if g.obj_id == obj.obj_id]
        correct[n] = bool(errors) and bool(is_correct(min(errors), obj.info.diameter_m))
    return correct


def calibrate(teacher, scorer, split: BopSplit, masks, target_precision: float, source: str = '',
              progress: bool = False, min_accepted: int = 20) -> tuple[Calibration, float]:
    """Label the synthetic ``split`` (with ground truth) with ``teacher`` (a PoseEstimator) on the
    predicted ``masks`` (a filled MaskStore), score every candidate with ``scorer`` and fit the
    thresholds; returns them and the share of the candidates that were correct."""
    from binpick.selftrain.loop import label_frames
    candidates = label_frames(teacher, scorer, split, masks, progress, 'calibration: labelling')
    correct = candidates_correct(candidates, split, scorer.obj, scorer.obj.sample_points(1000))
    calibration = fit_thresholds([c.d_appearance for c in candidates], [c.d_geo_m for c in candidates], correct,
                                 target_precision, min_accepted, source=source)
    return calibration, float(correct.mean())
