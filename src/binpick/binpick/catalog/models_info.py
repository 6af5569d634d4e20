"""Object model information in the BOP convention: diameter, 3D box, symmetries.

Inside binpick everything is in metres; ``models_info.json`` on disk is in millimetres (BOP).
Symmetries follow BOP (Hodan et al., ECCV 2018 / BOP toolkit): ``symmetries_discrete`` lists the
non-identity 4x4 transforms that leave the model unchanged, ``symmetries_continuous`` lists axes
(with an offset point) about which any rotation leaves it unchanged.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from binpick.data import atomic
from binpick.data.errors import DataFormatError
from binpick.data.jsonfields import int_keys, load_json, number, number_array


@dataclass
class ContinuousSymmetry:
    """Rotation about ``axis`` (unit vector, object frame) through ``offset_m`` (metres)."""

    axis: np.ndarray
    offset_m: np.ndarray = field(default_factory=lambda: np.zeros(3))


@dataclass
class ModelInfo:
    """BOP models_info entry of one object, in metres.

    Attributes:
        diameter_m: largest distance between two vertices of the model.
        min_xyz_m: lower corner of the axis-aligned 3D box in the object frame.
        size_xyz_m: extent of that box along x, y, z.
        symmetries_discrete: non-identity 4x4 transforms (translation in metres).
        symmetries_continuous: continuous rotation axes.
    """

    diameter_m: float
    min_xyz_m: np.ndarray
    size_xyz_m: np.ndarray
    symmetries_discrete: list[np.ndarray] = field(default_factory=list)
    symmetries_continuous: list[ContinuousSymmetry] = field(default_factory=list)

    @property
    def is_symmetric(self) -> bool:
        """True when the object has any symmetry (then it is scored with ADD-S)."""
        return bool(self.symmetries_discrete or self.symmetries_continuous)

    @property
    def symmetry_kind(self) -> str:
        """'continuous', 'discrete' or 'none'."""
        if self.symmetries_continuous:
            return 'continuous'
        return 'discrete' if self.symmetries_discrete else 'none'

    def to_bop(self) -> dict:
        """The models_info.json entry (millimetres)."""
        entry = {
            'diameter': round(self.diameter_m * 1000.0, 6),
            'min_x': round(float(self.min_xyz_m[0]) * 1000.0, 6),
            'min_y': round(float(self.min_xyz_m[1]) * 1000.0, 6),
            'min_z': round(float(self.min_xyz_m[2]) * 1000.0, 6),
            'size_x': round(float(self.size_xyz_m[0]) * 1000.0, 6),
            'size_y': round(float(self.size_xyz_m[1]) * 1000.0, 6),
            'size_z': round(float(self.size_xyz_m[2]) * 1000.0, 6),
        }
        if self.symmetries_discrete:
            mats = []
            for S in self.symmetries_discrete:
                S_mm = np.array(S, dtype=np.float64)
                S_mm[:3, 3] *= 1000.0
                mats.append([round(float(v), 9) for v in S_mm.reshape(-1)])
            entry['symmetries_discrete'] = mats
        if self.symmetries_continuous:
            entry['symmetries_continuous'] = [
                {'axis': [round(float(v), 9) for v in s.axis],
                 'offset': [round(float(v) * 1000.0, 6) for v in s.offset_m]}
                for s in self.symmetries_continuous]
        return entry

    @classmethod
    def from_bop(cls, entry: dict, path: Path | str, where: str) -> ModelInfo:
        """Parse one models_info.json entry (millimetres)."""
        min_xyz = np.array([number(entry, k, path, where) for k in ('min_x', 'min_y', 'min_z')])
        size_xyz = np.array([number(entry, k, path, where) for k in ('size_x', 'size_y', 'size_z')])
        discrete = []
        for i, flat in enumerate(entry.get('symmetries_discrete', [])):
            S = number_array({'m': flat}, 'm', 16, path, f'{where}.symmetries_discrete[{i}]').reshape(4, 4)
            S[:3, 3] /= 1000.0
            discrete.append(S)
        continuous = []
        for i, sym in enumerate(entry.get('symmetries_continuous', [])):
            w = f'{where}.symmetries_continuous[{i}]'
            axis = number_array(sym, 'axis', 3, path, w)
            if np.linalg.norm(axis) < 1e-9:
                raise DataFormatError(path, f'{w}.axis', 'axis has zero length')
            offset = number_array(sym, 'offset', 3, path, w) / 1000.0 if 'offset' in sym else np.zeros(3)
            continuous.append(ContinuousSymmetry(axis / np.linalg.norm(axis), offset))
        diameter = number(entry, 'diameter', path, where)
        if diameter <= 0:
            raise DataFormatError(path, f'{where}.diameter', f'must be positive, got {diameter}')
        return cls(diameter / 1000.0, min_xyz / 1000.0, size_xyz / 1000.0, discrete, continuous)


def mesh_diameter(vertices_m: np.ndarray) -> float:
    """Largest distance between two vertices (metres); searched on the convex hull."""
    pts = np.asarray(vertices_m, dtype=np.float64)
    if len(pts) >= 4:
        with contextlib.suppress(QhullError):   # degenerate (flat) point sets: all points are searched
            pts = pts[ConvexHull(pts).vertices]
    best = 0.0
    for start in range(0, len(pts), 2048):
        d = np.linalg.norm(pts[start:start + 2048, None, :] - pts[None, :, :], axis=-1)
        best = max(best, float(d.max()))
    return best


def compute_model_info(vertices_m: np.ndarray, symmetries_discrete: list[np.ndarray] | None = None,
                       symmetries_continuous: list[ContinuousSymmetry] | None = None) -> ModelInfo:
    """ModelInfo of a mesh given by its vertices in metres (object frame)."""
    v = np.asarray(vertices_m, dtype=np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    return ModelInfo(mesh_diameter(v), lo, hi - lo, list(symmetries_discrete or []),
                     list(symmetries_continuous or []))


def read_models_info(path: str | Path) -> dict[int, ModelInfo]:
    """Read a BOP models_info.json: obj_id -> ModelInfo (metres)."""
    path = Path(path)
    return {obj_id: ModelInfo.from_bop(entry, path, f'object {obj_id}')
            for obj_id, entry in int_keys(load_json(path), path).items()}


def write_models_info(path: str | Path, infos: dict[int, ModelInfo]) -> None:
    """Write a BOP models_info.json atomically."""
    atomic.write_json(path, {str(k): infos[k].to_bop() for k in sorted(infos)})


__all__ = ['ContinuousSymmetry', 'ModelInfo', 'compute_model_info', 'mesh_diameter',
           'read_models_info', 'write_models_info']
