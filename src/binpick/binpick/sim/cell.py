"""The simulated cell: a bin of parts of one object seen by the real-emulated stereo camera.

Parts settle under physics; a pick removes one (the rest settle again); an empty bin is refilled. Each
capture is a new stereo pair (the real domain's look, noise and calibration error) with the ground
truth of the left view, for evaluation only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from binpick.catalog.catalog import CatalogObject
from binpick.sim import domains
from binpick.sim.bin_physics import BinPhysics
from binpick.sim.generator import BIN_FILL, CellConfig, SceneGenerator


@dataclass
class StereoCapture:
    """One capture of the simulated stereo camera.

    ``left_rgb``/``right_rgb`` HxWx3 uint8, rectified; ``K`` the nominal 3x3 intrinsics the cell believes;
    ``T_cam_obj`` exact poses (metres) of the parts in the left optical frame, keyed by instance id;
    ``visible_px`` visible pixels of each part in the left view; ``instance_image`` HxW int32, the
    instance id seen at each pixel of the left view (-1: none), the ground truth of segmentation.
    """

    left_rgb: np.ndarray = field(repr=False)
    right_rgb: np.ndarray = field(repr=False)
    K: np.ndarray
    baseline_m: float
    T_cam_obj: dict[int, np.ndarray]
    visible_px: dict[int, int]
    instance_image: np.ndarray = field(repr=False)


class SimCell:
    """A bin of ``obj`` parts in the cell ``cell``; deterministic in ``seed``.

    Args:
        fill: ``'full'`` or ``'low'`` bins (the number of parts dropped on each refill).
        refill_every: also refill after this many captures of one bin (0: only when it is empty), so that a
            cell without a robot still sees many arrangements.
        fixed_camera: the camera stays at its nominal pose (``T_world_cam``), as a robot cell's calibrated
            camera does; otherwise it wobbles by millimetres between captures.
    """

    def __init__(self, obj: CatalogObject, cell: CellConfig, fill: str = 'full', seed: int = 0,
                 refill_every: int = 0, fixed_camera: bool = False) -> None:
        if fill not in BIN_FILL:
            raise ValueError(f'fill must be one of {", ".join(BIN_FILL)}, got {fill!r}')
        self.obj, self.cell, self.fill, self.refill_every = obj, cell, fill, refill_every
        self.captures_of_bin = 0
        self.rng = np.random.default_rng(seed)
        self.generator = SceneGenerator(obj, 'real', cell, cell_seed=seed)
        self.physics: BinPhysics | None = None
        self.instance_ids: list[int] = []      # instance id of each physics body, in body order
        self._next_id = 0
        self.refills = 0
        self.calibration = self.generator.cell_calibration   # one per cell, from its seed
        self.fixed_camera = fixed_camera
        self.T_world_cam = domains.nominal_camera_pose(cell.camera_height_m)

    def refill(self) -> None:
        """A new bin of parts (also what shaking the bin stands for)."""
        if self.physics is not None:
            self.physics.close()
        self.physics = BinPhysics(self.obj, self.cell.bin, seed=int(self.rng.integers(1 << 31)))
        low, high = BIN_FILL[self.fill]
        self.physics.drop(int(self.rng.integers(low, high + 1)))
        self.instance_ids = list(range(self._next_id, self._next_id + len(self.physics.bodies)))
        self._next_id += len(self.physics.bodies)
        self.refills += 1
        self.captures_of_bin = 0

    def capture(self) -> StereoCapture:
        """A new stereo pair of the bin (refilled first when empty, or after ``refill_every`` captures)."""
        if (self.physics is None or not self.physics.bodies
                or (self.refill_every and self.captures_of_bin >= self.refill_every)):
            self.refill()
        self.captures_of_bin += 1
        T_world_obj = self.physics.poses()
        T_world_left = (self.T_world_cam if self.fixed_camera
                        else domains.camera_pose('real', self.rng, self.cell.camera_height_m))
        left_rgb, right_rgb, left = self.generator.stereo_pair(T_world_obj, T_world_left, self.rng, self.calibration)
        instance_image = np.full(left_rgb.shape[:2], -1, np.int32)
        for i, m in zip(self.instance_ids, left.masks_visib):
            instance_image[m] = i
        return StereoCapture(left_rgb, right_rgb, self.cell.camera.K.copy(), self.cell.baseline_m,
                             dict(zip(self.instance_ids, left.T_cam_obj)),
                             {i: int(m.sum()) for i, m in zip(self.instance_ids, left.masks_visib)}, instance_image)

    def remove(self, instance_id: int) -> bool:
        """Remove a part (a successful pick) and let the others settle; False when it is not in the bin."""
        if instance_id not in self.instance_ids:
            return False
        self.physics.remove(self.instance_ids.index(instance_id))
        self.instance_ids.remove(instance_id)
        self.physics.settle(1.0)
        return True

    def remove_outside(self) -> list[int]:
        """Remove the parts no longer in the tote (knocked out by a pick); returns their instance ids."""
        gone = [self.instance_ids[i] for i in self.physics.outside()]
        for instance_id in gone:
            self.remove(instance_id)
        return gone

    def close(self) -> None:
        if self.physics is not None:
            self.physics.close()
        self.generator.close()
