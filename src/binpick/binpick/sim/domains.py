"""The sides of the sim-to-real gap (docs/architecture.md, glossary), as per-frame randomness.

- ``synthetic`` (training): domain randomisation of colours, textures, light, camera pose, with the
  renderer's clean depth plus mild noise.
- ``real`` (real-emulated): one fixed look of a real cell (metal parts, glare, a used grey tote),
  small camera jitter, the residual calibration error of a calibrated stereo camera (unknown to the
  pipeline, one per cell: the same for every scene of a dataset and every capture of a simulated cell),
  sensor noise, and depth computed by stereo matching from a rendered left/right pair
  (``perception.stereo``).
- ``real_harsh``: the same cell with a larger calibration error drawn anew for every scene (a stress
  test: no model can learn an error that changes from scene to scene).
- ``real_pbr`` (physically based real-emulated): the ``real`` cell, its camera, calibration error and
  sensor, with both stereo views path-traced by Blender Cycles (``sim.pbr_renderer``): steel that
  mirrors, soft light, an active-stereo dot projector, saturation. Ground truth is the rasterizer's.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import cv2
import numpy as np

from binpick.geometry import axis_angle, make_T
from binpick.sim.scene_renderer import Appearance
from binpick.sim.textures import procedural_texture, speckle_texture

DOMAINS = ('synthetic', 'real', 'real_harsh', 'real_pbr')
REAL_DOMAINS = ('real', 'real_harsh', 'real_pbr')   # stereo depth, the real cell's look
PATH_TRACED = ('real_pbr',)   # rendered by Blender Cycles (bpy)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@dataclass(frozen=True)
class CalibrationError:
    """What the real cell's calibration got wrong (unknown to the pipeline).

    ``K_scale``/``K_shift_px``: the true intrinsics are the nominal ones scaled / shifted;
    ``T_left_right_error``: error of the right camera's pose relative to the left.
    """

    K_scale: np.ndarray
    K_shift_px: np.ndarray
    T_left_right_error: np.ndarray

    def true_K(self, K_nominal: np.ndarray) -> np.ndarray:
        K = K_nominal.copy()
        K[0, 0] *= self.K_scale[0]
        K[1, 1] *= self.K_scale[1]
        K[:2, 2] += self.K_shift_px
        return K


def textures(domain: str, seed: int) -> list[np.ndarray]:
    """The textures a domain's renderer needs (loaded once per renderer)."""
    if domain == 'synthetic':
        rng = np.random.default_rng(seed)
        return [procedural_texture(rng) for _ in range(24)]
    return [speckle_texture(seed=7, base_rgb=(95, 95, 100), contrast=15.0),   # a worn grey tote
            speckle_texture(seed=8, base_rgb=(120, 110, 95), contrast=25.0)]  # table


def appearance(domain: str, rng: np.random.Generator) -> Appearance:
    """Colours, textures and light of one frame."""
    if domain == 'synthetic':
        look = Appearance(
            object_rgb=tuple(rng.uniform(0.15, 0.95, 3)), bin_rgb=tuple(rng.uniform(0, 1, 3)),
            floor_rgb=tuple(rng.uniform(0, 1, 3)),
            light_direction=tuple(_unit(np.array([*rng.uniform(-1, 1, 2), rng.uniform(0.3, 1.5)]))),
            ambient=rng.uniform(0.3, 0.7), diffuse=rng.uniform(0.3, 0.9), specular=rng.uniform(0.0, 0.6),
            shadow=bool(rng.random() < 0.5),
            bin_texture=int(rng.integers(24)) if rng.random() < 0.6 else -1,
            floor_texture=int(rng.integers(24)) if rng.random() < 0.8 else -1)
        if rng.random() < 0.4:  # bare metal: grey parts with glare, as most industrial parts are
            grey = rng.uniform(0.4, 0.8)
            look = replace(look, object_rgb=tuple(np.clip(grey + rng.normal(0, 0.03, 3), 0, 1)),
                           specular=rng.uniform(0.6, 1.0), diffuse=rng.uniform(0.5, 0.9))
        if rng.random() < 0.3:  # plain grey or dark totes
            look = replace(look, bin_rgb=(rng.uniform(0.15, 0.6),) * 3,
                           bin_texture=int(rng.integers(24)) if rng.random() < 0.3 else -1)
        return look
    # one real cell: brushed-steel parts under a strong light from the side, a grey tote
    return Appearance(object_rgb=(0.60, 0.61, 0.63), bin_rgb=(0.37, 0.37, 0.39), floor_rgb=(0.47, 0.43, 0.37),
                      light_direction=tuple(_unit(np.array([0.55, -0.35, 1.0]) + rng.normal(0, 0.03, 3))),
                      ambient=0.35, diffuse=0.75, specular=0.9, shadow=True, bin_texture=0, floor_texture=1)


def nominal_camera_pose(height_m: float) -> np.ndarray:
    """``T_world_cam`` of the cell's camera: ``height_m`` above the bin centre, looking straight down."""
    from binpick.sim.camera import look_at
    return look_at(np.array([0.0, 0.0, height_m]), np.zeros(3))


def camera_pose(domain: str, rng: np.random.Generator, height_m: float) -> np.ndarray:
    """``T_world_cam`` of one frame: above the bin centre looking down, with the domain's jitter."""
    from binpick.sim.camera import look_at
    if domain == 'synthetic':
        eye = np.array([*rng.normal(0, 0.03, 2), height_m * rng.uniform(0.85, 1.15)])
        target = np.array([*rng.normal(0, 0.02, 2), 0.0])
        roll = rng.uniform(-np.pi, np.pi) if rng.random() < 0.3 else rng.normal(0, 0.1)
    else:
        eye = np.array([*rng.normal(0, 0.003, 2), height_m + rng.normal(0, 0.003)])
        target = np.array([*rng.normal(0, 0.003, 2), 0.0])
        roll = rng.normal(0, 0.005)
    T = look_at(eye, target)
    return T @ make_T(axis_angle(np.array([0.0, 0.0, 1.0]), roll), np.zeros(3))


def calibration_error(rng: np.random.Generator, harsh: bool = False) -> CalibrationError:
    """A residual calibration error of a stereo cell.

    Default: what a calibrated industrial stereo camera leaves (a depth offset of a millimetre or
    two at 0.55 m, ``bench/depth_gap.py``). ``harsh``: twice as large, the per-scene error of the
    ``real_harsh`` domain (and of every real-emulated scene before there was one error per cell).
    """
    scale = 2.0 if harsh else 1.0
    R = axis_angle(rng.normal(size=3), np.deg2rad(scale * rng.uniform(0.005, 0.025)))
    return CalibrationError(K_scale=1.0 + rng.normal(0, scale * 0.002, 2), K_shift_px=rng.normal(0, scale * 0.75, 2),
                            T_left_right_error=make_T(R, rng.normal(0, scale * 0.00015, 3)))


def cell_calibration(seed: int) -> CalibrationError:
    """The one calibration error of the cell identified by ``seed`` (a dataset's seed, a simulated cell's)."""
    return calibration_error(np.random.default_rng(zlib.crc32(f'{seed}|cell-calibration'.encode())))


def synthetic_depth(depth_m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Clean rendered depth plus axial noise growing with z^2 and a little pixel dropout."""
    sigma = rng.uniform(0.0003, 0.0015) * (depth_m / 0.6) ** 2
    noisy = depth_m + rng.standard_normal(depth_m.shape, dtype=np.float32) * sigma
    noisy[(depth_m <= 0) | (rng.random(depth_m.shape) < 0.005)] = 0.0
    return noisy.astype(np.float32)


def sensor_rgb(domain: str, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera noise: blur, white balance, shot noise; mild for synthetic, stronger for real."""
    img = rgb.astype(np.float32)
    if domain == 'synthetic':
        gain = rng.uniform(0.85, 1.15, 3)
        blur, noise = rng.uniform(0, 0.8), rng.uniform(0, 4)
    else:
        gain = np.array([1.04, 1.0, 0.93])  # a warm cast of the cell's lamps
        blur, noise = 0.7, 4.0
    if blur > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    img = img * gain + noise * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)
