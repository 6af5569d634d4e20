"""One scene generator for both domains: drop parts, then render frames with the domain's look.

A scene is one settled bin seen in ``n_frames`` frames (camera jitter and, for the synthetic domain,
a new appearance each frame), the way BOP's PBR scenes reuse one arrangement for many views.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from binpick.catalog.catalog import CatalogObject
from binpick.config import load_params
from binpick.data.errors import DataFormatError
from binpick.data.hand_eye import load_hand_eye
from binpick.geometry import invert, make_T, matrix_from_quat
from binpick.perception.stereo import stereo_depth
from binpick.sim import domains
from binpick.sim.bin_physics import BinPhysics, BinSpec
from binpick.sim.camera import PinholeCamera
from binpick.sim.scene_renderer import SceneRenderer

BIN_FILL = {'low': (5, 10), 'full': (20, 40)}


@dataclass(frozen=True)
class CellConfig:
    """Camera and bin of the (simulated) cell; metres."""

    camera: PinholeCamera
    camera_height_m: float = 0.55
    baseline_m: float = 0.055
    depth_min_m: float = 0.3
    depth_max_m: float = 1.5
    bin: BinSpec = field(default_factory=BinSpec)
    # hand-eye calibration: the camera optical frame in the robot base frame
    T_base_cam: np.ndarray = field(default_factory=lambda: make_T(np.diag([1.0, -1.0, -1.0]), np.array([0.5, 0, 0.55])))

    @property
    def T_base_tote(self) -> np.ndarray:
        """The tote's floor centre (z up) in the robot base frame: straight below the camera, which
        looks down from ``camera_height_m`` at it."""
        return self.T_base_cam @ invert(domains.nominal_camera_pose(self.camera_height_m))

    def tote_boxes(self) -> list[tuple[tuple[float, float, float], np.ndarray]]:
        """The tote's floor and walls as (half extents, ``T_base_box``), robot base frame."""
        return [(half, self.T_base_tote @ make_T(np.eye(3), np.array(centre))) for half, centre in self.bin.boxes()]

    @classmethod
    def from_config(cls, camera_file: str = 'camera', cell_file: str = 'cell') -> CellConfig:
        """Read ``config/camera.yaml`` and ``config/cell.yaml`` (or the given files)."""
        cam, cell = load_params(camera_file), load_params(cell_file)
        try:
            return cls.from_params({**cam, **cell})
        except KeyError as e:
            raise DataFormatError(camera_file if e.args[0] in cam or e.args[0] not in cell else cell_file,
                                  'ros__parameters', f'missing field {e.args[0]!r}') from None
        except ValueError as e:
            raise DataFormatError(cell_file, 'ros__parameters', str(e)) from None

    @classmethod
    def from_params(cls, p: dict) -> CellConfig:
        """From the parameters of ``camera.yaml`` and ``cell.yaml`` in one dict (KeyError names a missing one);
        a ``hand_eye_file`` replaces ``T_base_cam_xyz``/``_xyzw``."""
        camera = PinholeCamera.from_params(p['fx'], p['fy'], p['cx'], p['cy'], int(p['width']), int(p['height']))
        xyz, xyzw = np.array(p['T_base_cam_xyz'], dtype=np.float64), np.array(p['T_base_cam_xyzw'], dtype=np.float64)
        if xyz.shape != (3,) or xyzw.shape != (4,) or not np.linalg.norm(xyzw) > 0.5:
            raise ValueError(f'T_base_cam_xyz {xyz.tolist()} / T_base_cam_xyzw {xyzw.tolist()}: expected 3 '
                             'metres and a unit quaternion x, y, z, w')
        hand_eye = make_T(matrix_from_quat(xyzw / np.linalg.norm(xyzw)), xyz)
        if p.get('hand_eye_file'):
            hand_eye = load_hand_eye(p['hand_eye_file']).T_base_cam
        return cls(camera, float(p['camera_height_m']), float(p['stereo_baseline_m']), float(p['depth_min_m']),
                   float(p['depth_max_m']), BinSpec(tuple(float(v) for v in p['bin_inner_size_m'])), hand_eye)


@dataclass
class SynthFrame:
    """One generated frame: images, the intrinsics the cell *believes* (``K``), and ground truth.

    ``T_cam_obj``, ``masks`` and ``masks_visib`` are exact (the true camera, intrinsics ``K_true``:
    ``K`` plus the emulated calibration error in the real domains); ``T_world_cam`` is the
    camera pose in the world frame (bin floor centre, z up). ``depth_true_m`` is the renderer's exact
    depth, for measuring the sensor model (not written to datasets).
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    K: np.ndarray
    T_world_cam: np.ndarray
    T_cam_obj: list[np.ndarray]
    masks: list[np.ndarray] = field(repr=False)
    masks_visib: list[np.ndarray] = field(repr=False)
    depth_true_m: np.ndarray | None = field(default=None, repr=False)
    K_true: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.K_true is None:
            self.K_true = self.K


class SceneGenerator:
    """Generates scenes of one object in one domain; keep one per process and reuse it.

    ``cell_seed`` identifies the cell: the ``real`` domain's calibration error is drawn once from it
    (:func:`domains.cell_calibration`) and used for every scene.
    """

    def __init__(self, obj: CatalogObject, domain: str, cell: CellConfig, cell_seed: int = 0) -> None:
        if domain not in domains.DOMAINS:
            raise ValueError(f'unknown domain {domain!r}; expected one of {", ".join(domains.DOMAINS)}')
        self.obj, self.domain, self.cell = obj, domain, cell
        self.cell_calibration = domains.cell_calibration(cell_seed)
        self.renderer = SceneRenderer(obj, cell.bin, textures=domains.textures(domain, seed=0))
        self.path_tracer = None
        if domain in domains.PATH_TRACED:
            from binpick.sim.pbr_renderer import CyclesSceneRenderer
            self.path_tracer = CyclesSceneRenderer(obj, cell.bin)

    def generate(self, seed: int, n_objects: int, n_frames: int, packing: str = 'random') -> list[SynthFrame]:
        """A settled bin of ``n_objects`` parts (``packing``: random, semi or ordered, see
        :meth:`BinPhysics.pack`) seen in ``n_frames`` frames; deterministic in ``seed``."""
        if n_objects <= 0 or n_frames <= 0:
            raise ValueError(f'need at least one object and one frame, got {n_objects} and {n_frames}')
        rng = np.random.default_rng(seed)
        with BinPhysics(self.obj, self.cell.bin, seed=int(rng.integers(1 << 31))) as physics:
            physics.pack(n_objects, packing)
            T_world_obj = physics.poses()
        make = self._real_frame if self.domain in domains.REAL_DOMAINS else self._synthetic_frame
        scene_error = domains.calibration_error(rng, harsh=True)   # drawn in every domain: same random stream
        calibration = scene_error if self.domain == 'real_harsh' else self.cell_calibration
        return [make(T_world_obj, rng, calibration) for _ in range(n_frames)]

    def _synthetic_frame(self, T_world_obj, rng, _calibration) -> SynthFrame:
        camera = self.cell.camera
        T_world_cam = domains.camera_pose('synthetic', rng, self.cell.camera_height_m)
        image = self.renderer.render(T_world_obj, T_world_cam, camera, domains.appearance('synthetic', rng))
        return SynthFrame(domains.sensor_rgb('synthetic', image.rgb, rng), domains.synthetic_depth(image.depth_m, rng),
                          camera.K, T_world_cam, image.T_cam_obj, image.masks, image.masks_visib, image.depth_m)

    def stereo_pair(self, T_world_obj: list[np.ndarray], T_world_left: np.ndarray, rng: np.random.Generator,
                    calibration: domains.CalibrationError):
        """Left and right sensor images (HxWx3 uint8) of the real-emulated stereo camera whose left optical
        frame is at ``T_world_left``, and the left view's exact render (ground truth)."""
        true_camera = PinholeCamera(calibration.true_K(self.cell.camera.K), self.cell.camera.width,
                                    self.cell.camera.height)
        T_left_right = make_T(np.eye(3), [self.cell.baseline_m, 0.0, 0.0]) @ calibration.T_left_right_error
        look = domains.appearance('real', rng)
        left = self.renderer.render(T_world_obj, T_world_left, true_camera, look)
        if self.path_tracer is None:
            left_rgb = left.rgb
            right_rgb = self.renderer.render(T_world_obj, T_world_left @ T_left_right, true_camera, look,
                                             with_masks=False).rgb
        else:  # the projector sits between the lenses; the lamp hangs where the rasterizer's light comes from
            self.path_tracer.place_lights(T_world_left @ make_T(np.eye(3), [self.cell.baseline_m / 2, 0.0, 0.0]),
                                          np.asarray(look.light_direction[:2]) / look.light_direction[2])
            left_rgb = self.path_tracer.render(T_world_obj, T_world_left, true_camera)
            right_rgb = self.path_tracer.render(T_world_obj, T_world_left @ T_left_right, true_camera)
        return domains.sensor_rgb('real', left_rgb, rng), domains.sensor_rgb('real', right_rgb, rng), left

    def depth_from_stereo(self, left_rgb: np.ndarray, right_rgb: np.ndarray) -> np.ndarray:
        """Depth (metres, 0 = none) of the left view, by the stereo matcher the camera driver uses."""
        return stereo_depth(left_rgb, right_rgb, self.cell.camera.K[0, 0], self.cell.baseline_m,
                            self.cell.depth_min_m, self.cell.depth_max_m)

    def _real_frame(self, T_world_obj, rng, calibration: domains.CalibrationError) -> SynthFrame:
        T_world_left = domains.camera_pose('real', rng, self.cell.camera_height_m)
        left_rgb, right_rgb, left = self.stereo_pair(T_world_obj, T_world_left, rng, calibration)
        return SynthFrame(left_rgb, self.depth_from_stereo(left_rgb, right_rgb), self.cell.camera.K, T_world_left,
                          left.T_cam_obj, left.masks, left.masks_visib, left.depth_m,
                          calibration.true_K(self.cell.camera.K))

    def close(self) -> None:
        self.renderer.close()
        if self.path_tracer is not None:
            self.path_tracer.close()
