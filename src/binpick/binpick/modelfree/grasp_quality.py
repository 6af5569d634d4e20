"""Which model-free grasps will hold: a small classifier of the grasp's observed geometry, trained on the
physics hand test of procedural training shapes (never the parts it is tested on).

The geometric checks of ``first_pick`` say a grasp closes on the part; they cannot say whether the part
turns out of the fingers when the arm lifts and swings it. Labels for that come from ``sim/hand.py``: each
candidate of a training-shape bin is tried on the true part alone, lying as in the bin (``bench/
grasp_quality.py`` records them). Its features are read off the observation only: the instance's points in
the gripper frame (y the closing axis, z the approach, origin the TCP), the opening, the approach's tilt and
the cost map. The model is a small perceptron on standardised features (numpy at inference; a JSON file).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binpick.data.atomic import write_json
from binpick.errors import BinpickError

FEATURES = ('opening_mm', 'contact_min', 'contact_max', 'band_points', 'band_depth_mm', 'pad_depth_mm',
            'band_width_mm', 'centroid_x_mm', 'centroid_y_mm', 'centroid_z_mm', 'reach_x_mm', 'reach_y_mm',
            'part_points', 'tilt_deg', 'cost', 'tip_depth_mm', 'height_mm', 'points_vs_typical',
            'length_vs_typical', 'length_mm')
FORMAT = 'binpick-grasp-quality/2'


class GraspQualityError(BinpickError, ValueError):
    """A grasp-quality file that cannot be used."""


def grasp_features(local_m: np.ndarray, band_m: np.ndarray, opening_m: float, tilt_rad: float, cost: float,
                   tip_depth_m: float, height_m: float, points_vs_typical: float = 1.0,
                   length_vs_typical: float = 1.0, length_m: float = 0.0) -> np.ndarray:
    """The features (``FEATURES``) of one grasp. ``local_m``: the instance's points in the gripper frame
    (metres, y the closing axis with the fingers centred on 0, z the approach, origin the TCP); ``band_m``: those
    the finger pads sweep (``first_pick.finger_band``); ``height_m``: the grasp point above the tote floor;
    ``points_vs_typical`` and ``length_vs_typical``: the instance's point count and length (``length_m``, the
    extent of its points along their main axis) over the median of the frame's instances (a tote holds one kind
    of part: a much smaller instance is likely a fragment of one)."""
    y = band_m[:, 1]
    low, high = float(y.min()), float(y.max())
    pads = [band_m[y < low + 0.003], band_m[y > high - 0.003]]
    pad_depth = min(float(np.ptp(p[:, 2])) if len(p) else 0.0 for p in pads)
    centroid = local_m.mean(axis=0)
    return np.array([
        1000 * opening_m, min(len(p) for p in pads), max(len(p) for p in pads), len(band_m),
        1000 * float(np.ptp(band_m[:, 2])), 1000 * pad_depth, 1000 * float(np.ptp(band_m[:, 0])),
        1000 * abs(centroid[0]), 1000 * abs(centroid[1]), 1000 * centroid[2],
        1000 * float(np.percentile(np.abs(local_m[:, 0]), 90)), 1000 * float(np.percentile(np.abs(local_m[:, 1]), 90)),
        len(local_m), np.degrees(tilt_rad), cost, 1000 * tip_depth_m, 1000 * height_m, points_vs_typical,
        length_vs_typical, 1000 * length_m])


def _expand(x: np.ndarray) -> np.ndarray:
    """Counts on a log scale (the rest as they are)."""
    x = np.array(x, dtype=np.float64, ndmin=2)
    for name in ('contact_min', 'contact_max', 'band_points', 'part_points'):
        i = FEATURES.index(name)
        x[:, i] = np.log1p(x[:, i])
    return x


@dataclass
class GraspQuality:
    """P(the grasp holds): a small multilayer perceptron (ReLU between layers, a sigmoid at the end) on
    standardised features; numpy at inference."""

    mean: np.ndarray
    scale: np.ndarray
    layers: list[tuple[np.ndarray, np.ndarray]]      # (W (out, in), b (out,)) per layer; the last has out = 1
    trained_on: str = ''

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(N,) probabilities for (N, len(FEATURES)) features."""
        z = (_expand(features) - self.mean) / self.scale
        for i, (W, b) in enumerate(self.layers):
            z = z @ W.T + b
            if i < len(self.layers) - 1:
                z = np.maximum(z, 0.0)
        return 1.0 / (1.0 + np.exp(-z[:, 0]))

    @classmethod
    def fit(cls, features: np.ndarray, held: np.ndarray, hidden: int = 32, weight_decay: float = 1e-2,
            epochs: int = 300, seed: int = 0, trained_on: str = '') -> GraspQuality:
        """Fit to ``held`` (N,): bools, or the share of hand tests that held; full-batch Adam on the
        cross-entropy (deterministic for a ``seed``)."""
        import torch
        x = _expand(features)
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        generator = torch.Generator().manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
        with torch.no_grad():
            for param in net.parameters():
                param.uniform_(-1 / np.sqrt(param.shape[-1]), 1 / np.sqrt(param.shape[-1]), generator=generator)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=weight_decay)
        inputs = torch.tensor((x - mean) / scale, dtype=torch.float32)
        targets = torch.tensor(np.asarray(held, dtype=np.float32))
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(inputs)[:, 0], targets)
            loss.backward()
            optimizer.step()
        linear = [m for m in net if isinstance(m, torch.nn.Linear)]
        return cls(mean, scale, [(m.weight.detach().double().numpy(), m.bias.detach().double().numpy())
                                 for m in linear], trained_on)

    def save(self, path: Path) -> None:
        write_json(Path(path), {'format': FORMAT, 'features': list(FEATURES), 'mean': self.mean.tolist(),
                                'scale': self.scale.tolist(),
                                'layers': [{'W': W.tolist(), 'b': b.tolist()} for W, b in self.layers],
                                'trained_on': self.trained_on}, indent=None)

    @classmethod
    def load(cls, path: Path) -> GraspQuality:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise GraspQualityError(f'{path}: cannot read a grasp-quality model ({e})') from e
        if not isinstance(data, dict) or data.get('format') != FORMAT:
            raise GraspQualityError(f'{path}: field format is not {FORMAT!r}')
        if data.get('features') != list(FEATURES):
            raise GraspQualityError(f'{path}: field features differs from this version\'s ({", ".join(FEATURES)})')
        try:
            mean, scale = (np.asarray(data[k], dtype=np.float64) for k in ('mean', 'scale'))
            layers = [(np.asarray(layer['W'], dtype=np.float64), np.asarray(layer['b'], dtype=np.float64))
                      for layer in data['layers']]
        except (KeyError, TypeError, ValueError) as e:
            raise GraspQualityError(f'{path}: field {e} missing or not numbers') from e
        inputs = len(FEATURES)
        for k, (W, b) in enumerate(layers):
            if W.ndim != 2 or W.shape[1] != inputs or b.shape != (W.shape[0],):
                raise GraspQualityError(f'{path}: field layers[{k}] does not take {inputs} inputs')
            inputs = W.shape[0]
        if mean.shape != (len(FEATURES),) or scale.shape != mean.shape or not layers or inputs != 1:
            raise GraspQualityError(f'{path}: mean and scale need {len(FEATURES)} numbers, layers one output')
        return cls(mean, scale, layers, str(data.get('trained_on', '')))
