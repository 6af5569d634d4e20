"""BOP results CSV: ``scene_id,im_id,obj_id,score,R,t,time``.

R is 9 space-separated numbers (row-major), t 3 space-separated millimetres, time the seconds spent
on the image (-1 when unknown). Metres inside binpick; millimetres only in the file.
"""
from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binpick.data import atomic
from binpick.data.errors import DataFormatError
from binpick.geometry import is_rotation, make_T, nearest_rotation

HEADER = 'scene_id,im_id,obj_id,score,R,t,time'
COLUMNS = HEADER.split(',')


@dataclass
class PoseEstimate:
    """One estimated pose of one object in one image (``T_cam_obj`` in metres)."""

    scene_id: int
    im_id: int
    obj_id: int
    score: float
    T_cam_obj: np.ndarray
    time_s: float = -1.0


def write_results_csv(path: str | Path, estimates: list[PoseEstimate]) -> None:
    """Write estimates as a BOP results CSV, atomically (rotations orthonormalised first, so that
    single-precision network output reads back as a rotation)."""
    out = io.StringIO()
    out.write(HEADER + '\n')
    for e in estimates:
        R = ' '.join(f'{v:.9g}' for v in nearest_rotation(e.T_cam_obj[:3, :3]).reshape(-1))
        t = ' '.join(f'{v * 1000.0:.6f}' for v in e.T_cam_obj[:3, 3])
        out.write(f'{e.scene_id},{e.im_id},{e.obj_id},{e.score:.6g},{R},{t},{e.time_s:.6g}\n')
    atomic.write_text(path, out.getvalue())


def _parse_column(path: Path, lineno: int, values: list[str], col: str, n: int, conv=float) -> list:
    """The ``n`` numbers of column ``col`` of one line; DataFormatError naming file, line and column."""
    text = values[COLUMNS.index(col)]
    try:
        parts = [conv(v) for v in text.split()]
    except ValueError:
        raise DataFormatError(path, f'line {lineno}, column {col!r}', f'not a number: {text!r}') from None
    if len(parts) != n or not np.all(np.isfinite(parts)):
        raise DataFormatError(path, f'line {lineno}, column {col!r}', f'expected {n} finite number(s), got {text!r}')
    return parts


def read_results_csv(path: str | Path) -> list[PoseEstimate]:
    """Read a BOP results CSV.

    Raises:
        DataFormatError: naming the file, the line and the column of the first bad value.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataFormatError(path, '', 'file does not exist') from None
    estimates = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or (lineno == 1 and line.startswith('scene_id')):
            continue
        values = line.split(',')
        if len(values) != len(COLUMNS):
            raise DataFormatError(path, f'line {lineno}',
                                  f'expected {len(COLUMNS)} values ({HEADER}), got {len(values)}')
        parse = functools.partial(_parse_column, path, lineno, values)
        R = np.array(parse('R', 9)).reshape(3, 3)
        if not is_rotation(R, atol=1e-4):
            raise DataFormatError(path, f'line {lineno}, column \'R\'', 'is not a rotation matrix')
        t_m = np.array(parse('t', 3)) / 1000.0
        estimates.append(PoseEstimate(parse('scene_id', 1, int)[0], parse('im_id', 1, int)[0],
                                      parse('obj_id', 1, int)[0], parse('score', 1)[0],
                                      make_T(R, t_m), parse('time', 1)[0]))
    return estimates
