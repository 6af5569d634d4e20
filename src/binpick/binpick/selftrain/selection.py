"""Pseudo-label selection (paper Sec. 3.3, "Comprehensive Selection"): accept a candidate when
d_a < mu_a + sigma_a and d_g < mu_g + sigma_g, the statistics taken over all candidates being labelled."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAPER_CRITERIA = ('both', 'appearance', 'geometry')   # the paper's Table 2
CRITERIA = (*PAPER_CRITERIA, 'calibrated')


@dataclass
class Selection:
    """Which candidates are accepted, with the thresholds used (``None`` for a criterion not applied)."""

    accepted: np.ndarray              # (N,) bool
    tau_appearance: float | None
    tau_geometry_m: float | None

    def to_dict(self) -> dict:
        return {'accepted': int(self.accepted.sum()), 'candidates': len(self.accepted),
                'tau_appearance': self.tau_appearance, 'tau_geometry_m': self.tau_geometry_m}


def threshold(values: np.ndarray) -> float:
    """mu + sigma of the finite values (inf when there are none)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean() + finite.std()) if len(finite) else float('inf')


def passes(d_appearance, d_geometry_m, tau_appearance: float | None, tau_geometry_m: float | None) -> np.ndarray:
    """(N,) bool: candidates under both thresholds (``None``: that criterion is not applied; 0.0 is a
    threshold like any other, which nothing non-negative passes)."""
    d_a, d_g = np.asarray(d_appearance, dtype=np.float64), np.asarray(d_geometry_m, dtype=np.float64)
    accepted = np.ones(len(d_a), dtype=bool)
    if tau_appearance is not None:
        accepted &= d_a < tau_appearance
    if tau_geometry_m is not None:
        accepted &= d_g < tau_geometry_m
    return accepted


def select(d_appearance: np.ndarray, d_geometry_m: np.ndarray, criterion: str = 'both',
           calibration=None) -> Selection:
    """Apply the mu + sigma thresholds; ``criterion``: both (the paper), appearance (d_a only) or
    geometry (d_g only), the ablations of the paper's Table 2; or calibrated: the fixed thresholds of a
    :class:`~binpick.selftrain.calibration.Calibration` (``calibration``). The one selection rule of the
    offline loop, the retrainer and the recorder."""
    if criterion not in CRITERIA:
        raise ValueError(f'criterion must be one of {CRITERIA}, not {criterion!r}')
    d_a, d_g = np.asarray(d_appearance, dtype=np.float64), np.asarray(d_geometry_m, dtype=np.float64)
    if criterion == 'calibrated':
        if calibration is None:
            raise ValueError('criterion calibrated needs a calibration (binpick calibrate-selection)')
        tau_a, tau_g = calibration.tau_appearance, calibration.tau_geometry_m
    else:
        tau_a = threshold(d_a) if criterion in ('both', 'appearance') else None
        tau_g = threshold(d_g) if criterion in ('both', 'geometry') else None
    return Selection(passes(d_a, d_g, tau_a, tau_g), tau_a, tau_g)
