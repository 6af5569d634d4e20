"""Grasp sets of one object: parallel-jaw grasps in the object frame, stored as YAML.

Gripper frame convention (the Franka Hand TCP, ``panda_hand_tcp``): origin midway between the
finger pads, +z the approach direction (from the hand towards the object), +y the direction the
fingers close along. Positions in metres.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from binpick.data import atomic
from binpick.data.errors import DataFormatError
from binpick.data.jsonfields import load_yaml
from binpick.geometry import make_T, matrix_from_quat, quat_from_matrix


@dataclass(frozen=True)
class Gripper:
    """Parallel-jaw gripper geometry (metres). Defaults: Franka Hand."""

    name: str = 'franka_hand'
    max_width: float = 0.080       # largest opening between the pads
    finger_depth: float = 0.040    # how far the fingers reach past the palm
    finger_width: float = 0.020    # finger extent along the gripper x axis
    finger_thickness: float = 0.008  # finger extent along the closing (y) axis
    palm_width: float = 0.204      # hand body extent along y
    palm_depth: float = 0.060      # hand body extent along x


@dataclass
class Grasp:
    """One grasp: ``T_obj_grasp`` (gripper TCP pose in the object frame), opening width, quality, and the
    share of physics trials in which the hand held the part (``sim/hand.py``; None: not tested)."""

    T_obj_grasp: np.ndarray
    width: float
    score: float
    hold: float | None = None

    @property
    def approach(self) -> np.ndarray:
        """Approach direction in the object frame (the gripper +z axis)."""
        return self.T_obj_grasp[:3, 2]


@dataclass
class GraspSet:
    """All grasps of one object for one gripper."""

    object_name: str
    gripper: Gripper
    grasps: list[Grasp]

    def to_yaml(self) -> str:
        doc = {
            'object': self.object_name,
            'gripper': {k: getattr(self.gripper, k) for k in Gripper.__dataclass_fields__},
            'frame': 'object frame of the catalog mesh; metres',
            'convention': 'origin midway between the finger pads, z approach, y closing',
            'grasps': [{
                'position': [round(float(v), 6) for v in g.T_obj_grasp[:3, 3]],
                'quaternion_xyzw': [round(float(v), 8) for v in quat_from_matrix(g.T_obj_grasp[:3, :3])],
                'approach': [round(float(v), 6) for v in g.approach],
                'width': round(float(g.width), 6),
                'score': round(float(g.score), 4),
                **({} if g.hold is None else {'hold': round(float(g.hold), 4)}),
            } for g in self.grasps],
        }
        return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)

    def save(self, path: str | Path) -> None:
        """Write the set as YAML, atomically."""
        atomic.write_text(path, self.to_yaml())

    @classmethod
    def load(cls, path: str | Path) -> GraspSet:
        """Read a grasp set YAML.

        Raises:
            DataFormatError: naming the file and the grasp/field that is missing or malformed.
        """
        path = Path(path)
        doc = load_yaml(path)
        if not isinstance(doc, dict):
            raise DataFormatError(path, '', 'expected a mapping with object, gripper and grasps')
        for key in ('object', 'grasps'):
            if key not in doc:
                raise DataFormatError(path, '', f'missing field {key!r}')
        gripper = Gripper(**{k: v for k, v in (doc.get('gripper') or {}).items()
                             if k in Gripper.__dataclass_fields__})
        grasps = []
        for i, g in enumerate(doc['grasps'] or []):
            where = f'grasps[{i}]'
            try:
                p = np.asarray(g['position'], dtype=np.float64).reshape(3)
                q = np.asarray(g['quaternion_xyzw'], dtype=np.float64).reshape(4)
                width = float(g['width'])
            except KeyError as e:
                raise DataFormatError(path, where, f'missing field {e.args[0]!r}') from None
            except (TypeError, ValueError):
                raise DataFormatError(path, where, 'position must be 3 numbers, quaternion_xyzw 4, '
                                      'width a number') from None
            if not np.isfinite(q).all() or np.linalg.norm(q) < 1e-6:
                raise DataFormatError(path, f'{where}.quaternion_xyzw', 'not a rotation')
            hold = g.get('hold')
            grasps.append(Grasp(make_T(matrix_from_quat(q), p), width, float(g.get('score', 1.0)),
                                None if hold is None else float(hold)))
        return cls(str(doc['object']), gripper, grasps)
