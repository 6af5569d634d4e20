"""Procedural CAD of the built-in industrial parts (metres, object frame at the box centre).

The parts mirror the kinds in the paper's ROBI/SIBP tables: continuous-symmetric (tube fitting,
spacer ring), discrete-symmetric (gear, hex nut, eye bolt) and asymmetric (zigzag bracket, connector
block). Solids are built with manifold3d, so every mesh is watertight by construction.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import manifold3d as mf
import numpy as np
import trimesh

from binpick.catalog.models_info import ContinuousSymmetry
from binpick.geometry import axis_angle, close_group, make_T

SEGMENTS = 48  # facets per full circle


def _revolve(profile_rz: list[tuple[float, float]]) -> mf.Manifold:
    """Solid of revolution about z of a closed (r, z) profile."""
    return mf.CrossSection([profile_rz]).revolve(SEGMENTS)


def _extrude_z(polygon_xy: list[tuple[float, float]], height: float) -> mf.Manifold:
    """Prism of a closed xy polygon from z = 0 to z = height."""
    return mf.CrossSection([polygon_xy]).extrude(height)


def _cylinder_z(radius: float, height: float, z0: float = 0.0) -> mf.Manifold:
    return mf.Manifold.cylinder(height, radius, radius, SEGMENTS).translate((0.0, 0.0, z0))


def _box(size: tuple[float, float, float], lo: tuple[float, float, float]) -> mf.Manifold:
    return mf.Manifold.cube(size).translate(lo)


def tube_fitting() -> mf.Manifold:
    """Stepped tube: body 24 mm, collar 32 mm, bore 16 mm, 60 mm long."""
    return _revolve([(0.008, 0.0), (0.016, 0.0), (0.016, 0.010), (0.012, 0.013),
                     (0.012, 0.060), (0.008, 0.060)])


def spacer_ring() -> mf.Manifold:
    """Washer-like ring: outside 40 mm, inside 20 mm, 8 mm thick, chamfered both sides alike."""
    return _revolve([(0.010, 0.0), (0.019, 0.0), (0.020, 0.001), (0.020, 0.007), (0.019, 0.008),
                     (0.010, 0.008)])


def spur_gear(teeth: int = 12) -> mf.Manifold:
    """Spur gear: 12 trapezoid teeth, tip radius 26 mm, root 20 mm, 10 mm thick, 8 mm bore."""
    r_root, r_tip, pts = 0.020, 0.026, []
    pitch = 2 * np.pi / teeth
    for k in range(teeth):
        a = k * pitch
        for da, r in ((-0.30, r_root), (-0.16, r_tip), (0.16, r_tip), (0.30, r_root)):
            pts.append((r * np.cos(a + da * pitch), r * np.sin(a + da * pitch)))
    body = _extrude_z(pts, 0.010)
    return body - _cylinder_z(0.004, 0.012, -0.001)


def hex_nut() -> mf.Manifold:
    """Hex nut: 30 mm across flats, 16 mm thick, 16 mm bore."""
    r_corner = 0.015 / np.cos(np.pi / 6)
    hexagon = [(r_corner * np.cos(k * np.pi / 3), r_corner * np.sin(k * np.pi / 3)) for k in range(6)]
    return _extrude_z(hexagon, 0.016) - _cylinder_z(0.008, 0.018, -0.001)


def eye_bolt() -> mf.Manifold:
    """Eye bolt: 10 mm shank 50 mm long, ring of 28 mm mean diameter in the xz-plane."""
    ring = mf.CrossSection.circle(0.004, 24).translate((0.014, 0.0)).revolve(SEGMENTS)
    ring = ring.rotate((90.0, 0.0, 0.0)).translate((0.0, 0.0, 0.068))
    shank = _cylinder_z(0.005, 0.052)
    collar = _cylinder_z(0.008, 0.004, 0.050)
    return ring + shank + collar


def zigzag_bracket() -> mf.Manifold:
    """Z-shaped bent plate, 4 mm thick, 20 mm wide, flanges 25 and 35 mm, a hole in the long one."""
    t = 0.004
    profile = [(0.0, 0.0), (0.035, 0.0), (0.035, t), (t, t), (t, 0.032 + t), (-0.025 + t, 0.032 + t),
               (-0.025 + t, 0.032), (0.0, 0.032)]
    plate = mf.CrossSection([profile]).extrude(0.020).rotate((90.0, 0.0, 0.0))
    hole = mf.Manifold.cylinder(0.010, 0.003, 0.003, 32).translate((0.024, -0.010, -0.002))
    return plate - hole


def connector_block() -> mf.Manifold:
    """Connector block 40x26x18 mm with an off-centre round peg and a slot on one side."""
    block = _box((0.040, 0.026, 0.018), (0.0, 0.0, 0.0))
    peg = mf.Manifold.cylinder(0.012, 0.005, 0.005, 32).translate((0.030, 0.017, 0.018))
    slot = _box((0.012, 0.008, 0.010), (0.006, -0.001, 0.004))
    return block + peg - slot


@dataclass(frozen=True)
class PartSpec:
    """A built-in part: its generator and its symmetry generators (4x4, object frame)."""

    obj_id: int
    build: Callable[[], mf.Manifold]
    kind: str
    description: str
    discrete_generators: tuple = ()
    continuous_axes: tuple = ()


def _rot(axis, angle) -> np.ndarray:
    return make_T(axis_angle(np.asarray(axis, float), angle), np.zeros(3))


FLIP_X = _rot((1, 0, 0), np.pi)

BUILTIN_PARTS: dict[str, PartSpec] = {
    'tube_fitting': PartSpec(1, tube_fitting, 'continuous-symmetric',
                             'stepped tube fitting with a collar', (), ((0, 0, 1),)),
    'spacer_ring': PartSpec(2, spacer_ring, 'continuous-symmetric',
                            'washer-like spacer ring', (FLIP_X,), ((0, 0, 1),)),
    'spur_gear': PartSpec(3, spur_gear, 'discrete-symmetric', '12-tooth spur gear',
                          (_rot((0, 0, 1), 2 * np.pi / 12), FLIP_X)),
    'hex_nut': PartSpec(4, hex_nut, 'discrete-symmetric', 'hex nut',
                        (_rot((0, 0, 1), np.pi / 3), FLIP_X)),
    'eye_bolt': PartSpec(5, eye_bolt, 'discrete-symmetric', 'eye bolt (ring in the xz-plane)',
                         (_rot((0, 0, 1), np.pi),)),
    'zigzag_bracket': PartSpec(6, zigzag_bracket, 'asymmetric',
                               'Z-bent bracket, unequal flanges, one hole'),
    'connector_block': PartSpec(7, connector_block, 'asymmetric',
                                'connector block with an offset peg and a side slot'),
}


def to_trimesh(solid: mf.Manifold) -> trimesh.Trimesh:
    """Manifold solid -> trimesh (same units)."""
    m = solid.to_mesh()
    return trimesh.Trimesh(np.asarray(m.vert_properties)[:, :3], np.asarray(m.tri_verts), process=True)


def build_part(name: str) -> tuple[trimesh.Trimesh, list[np.ndarray], list[ContinuousSymmetry]]:
    """Mesh (metres, origin at the box centre) and symmetries of a built-in part."""
    spec = BUILTIN_PARTS[name]
    mesh = to_trimesh(spec.build())
    lo, hi = mesh.bounds
    mesh.apply_translation(-(lo + hi) / 2.0)
    discrete = close_group(list(spec.discrete_generators))[1:] if spec.discrete_generators else []
    continuous = [ContinuousSymmetry(np.asarray(a, float)) for a in spec.continuous_axes]
    return mesh, discrete, continuous
