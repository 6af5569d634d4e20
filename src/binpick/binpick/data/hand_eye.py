"""A hand-eye calibration file, as easy_handeye2 writes it (``~/.ros2/easy_handeye2/calibrations/NAME.calib``)::

    parameters:
      calibration_type: eye_on_base          # binpick's camera stands above the tote
      robot_base_frame: panda_link0
      tracking_base_frame: camera_color_optical_frame
    transform:
      translation: {x: 0.5, y: 0.0, z: 0.55}            # metres
      rotation: {x: 1.0, y: 0.0, z: 0.0, w: 0.0}        # unit quaternion

The transform is the tracking base frame (the camera) in the robot base frame: ``T_base_cam``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binpick.data.errors import DataFormatError
from binpick.data.jsonfields import field, load_yaml
from binpick.geometry import make_T, matrix_from_quat

UNIT_TOLERANCE = 1e-3   # |q| may differ from 1 by this much (files written with 6 decimals)


@dataclass(frozen=True)
class HandEye:
    T_base_cam: np.ndarray   # 4x4, metres: the camera frame in the robot base frame
    base_frame: str
    camera_frame: str


def load_hand_eye(path: str | Path) -> HandEye:
    """Read and check a hand-eye file: eye-on-base, finite numbers, a unit quaternion."""
    doc = load_yaml(path)
    params = field(doc, 'parameters', path, '')
    kind = params.get('calibration_type', 'eye_on_base') if isinstance(params, dict) else None
    if params.get('eye_on_hand') is True or kind != 'eye_on_base':
        raise DataFormatError(path, 'parameters.calibration_type', f'{kind!r}: binpick needs eye_on_base (the '
                              'camera fixed above the tote)')
    frames = [field(params, k, path, 'parameters') for k in ('robot_base_frame', 'tracking_base_frame')]
    transform = field(doc, 'transform', path, '')
    values = {}
    for part, keys in (('translation', 'xyz'), ('rotation', 'xyzw')):
        entry = field(transform, part, path, 'transform')
        try:
            values[part] = np.array([float(field(entry, k, path, f'transform.{part}')) for k in keys])
        except (TypeError, ValueError):
            raise DataFormatError(path, f'transform.{part}', f'expected numbers {", ".join(keys)}') from None
        if not np.isfinite(values[part]).all():
            raise DataFormatError(path, f'transform.{part}', f'not finite: {values[part].tolist()}')
    norm = float(np.linalg.norm(values['rotation']))
    if abs(norm - 1.0) > UNIT_TOLERANCE:
        raise DataFormatError(path, 'transform.rotation', f'|q| = {norm:.4f}: not a rigid transform (a rotation '
                              'needs a unit quaternion)')
    T = make_T(matrix_from_quat(values['rotation'] / norm), values['translation'])
    return HandEye(T, str(frames[0]), str(frames[1]))
