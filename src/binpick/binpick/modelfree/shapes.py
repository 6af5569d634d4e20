"""Procedural shapes for class-agnostic training data, and the shapes kept for testing only (metres).

Training kinds (``TRAIN_KINDS``): boxes of small, medium, big, thin and long proportions, cylinders, L- and
T-profiles, tubes, rods, once-bent rods and sheet strips, plates with holes, compounds of two or three
of them, sheet strips folded two or three times, and rods with a head (disk, hexagon, ball or ring), each
with random dimensions. Test-only kinds (``TEST_KINDS``): a wedge (triangular prism) and a
U-channel, never drawn for training, so a segmentation trained on the first is tested on shapes it has not
seen (as are the seven built-in catalog parts).

Every shape is a watertight manifold3d solid with its origin at its bounding-box centre, written into a
catalog folder of its own (``write_shape_catalog``) so the bin simulator and the renderer take it as
any catalog part.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import manifold3d as mf
import numpy as np
import trimesh

from binpick.catalog.catalog import Catalog, kind_of, write_object
from binpick.catalog.models_info import compute_model_info
from binpick.catalog.shapes import to_trimesh
from binpick.grasp.grasp_set import GraspSet, Gripper

FIRST_SHAPE_OBJ_ID = 2001    # above the built-ins (1-7) and the user range's usual ids


def _box(x: float, y: float, z: float) -> mf.Manifold:
    return mf.Manifold.cube((x, y, z))


def _prism(polygon_xy: list[tuple[float, float]], length: float) -> mf.Manifold:
    return mf.CrossSection([polygon_xy]).extrude(length)


def _u(rng: np.random.Generator, lo_mm: float, hi_mm: float) -> float:
    return float(rng.uniform(lo_mm, hi_mm)) / 1000.0


def box_small(rng):
    return _box(_u(rng, 15, 35), _u(rng, 15, 35), _u(rng, 10, 30))


def box_medium(rng):
    return _box(_u(rng, 35, 70), _u(rng, 30, 60), _u(rng, 15, 45))


def box_big(rng):
    return _box(_u(rng, 70, 120), _u(rng, 50, 90), _u(rng, 25, 60))


def box_thin(rng):
    return _box(_u(rng, 30, 90), _u(rng, 25, 70), _u(rng, 3, 8))


def box_long(rng):
    return _box(_u(rng, 80, 150), _u(rng, 12, 30), _u(rng, 10, 25))


def cylinder(rng):
    radius, height = _u(rng, 8, 30), _u(rng, 10, 90)
    return mf.Manifold.cylinder(height, radius, radius, 40)


def l_profile(rng):
    a, b, t, length = _u(rng, 20, 50), _u(rng, 15, 45), _u(rng, 3, 8), _u(rng, 30, 120)
    return _prism([(0, 0), (a, 0), (a, t), (t, t), (t, b), (0, b)], length)


def t_profile(rng):
    w, h, t, length = _u(rng, 25, 60), _u(rng, 20, 50), _u(rng, 3, 8), _u(rng, 30, 120)
    flange = _box(w, t, length).translate((-w / 2, h - t, 0))
    web = _box(t, h - t, length).translate((-t / 2, 0, 0))
    return flange + web


def tube(rng):
    """A hollow cylinder: washers to pipe sections."""
    r_out, height = _u(rng, 10, 30), _u(rng, 4, 70)
    r_in = r_out * float(rng.uniform(0.4, 0.8))
    return mf.Manifold.cylinder(height, r_out, r_out, 40) - mf.Manifold.cylinder(height, r_in, r_in, 40)


def rod(rng):
    """A thin pin or shaft."""
    radius, length = _u(rng, 2.5, 7), _u(rng, 40, 130)
    return mf.Manifold.cylinder(length, radius, radius, 24)


def bent_rod(rng):
    """A round rod bent once at a random angle (a hook, a handle)."""
    radius, a, b = _u(rng, 2.5, 6), _u(rng, 25, 80), _u(rng, 15, 60)
    angle_deg = float(rng.uniform(45, 135))
    leg = mf.Manifold.cylinder(a, radius, radius, 24)
    other = mf.Manifold.cylinder(b, radius, radius, 24).rotate((0, angle_deg, 0))
    return leg + other + mf.Manifold.sphere(radius, 24)


def bent_sheet(rng):
    """A sheet-metal strip bent once at a random angle."""
    width, t, a, b = _u(rng, 12, 40), _u(rng, 2, 5), _u(rng, 20, 70), _u(rng, 15, 50)
    angle_deg = float(rng.uniform(30, 150))
    first = _box(a, width, t)
    second = _box(b, width, t).rotate((0, -angle_deg, 0))
    return first + second


def folded_sheet(rng):
    """A sheet-metal strip bent two or three times (steps, Z- and S-brackets, hooks). Two bends in a row the
    same way of more than 120 degrees together (a U-channel, a test-only kind) are never drawn: the second
    turns the other way."""
    width, t = _u(rng, 10, 40), _u(rng, 1.5, 5)
    n_bends = int(rng.integers(2, 4))
    deflections = rng.uniform(30, 120, n_bends) * rng.choice([-1.0, 1.0], n_bends)
    for k in range(1, len(deflections)):
        if deflections[k] * deflections[k - 1] > 0 and abs(deflections[k] + deflections[k - 1]) > 120:
            deflections[k] = -deflections[k]
    start, angle_deg = np.zeros(3), 0.0
    fold = mf.Manifold.cylinder(width, t / 2, t / 2, 16).rotate((-90, 0, 0))    # a fold's round, along y
    sheet = fold
    for k in range(len(deflections) + 1):
        length = _u(rng, 12, 50)
        sheet = sheet + _box(length, width, t).translate((0, 0, -t / 2)).rotate((0, angle_deg, 0)).translate(
            tuple(start))
        a = np.radians(angle_deg)
        start = start + length * np.array([np.cos(a), 0.0, -np.sin(a)])
        sheet = sheet + fold.translate(tuple(start))
        if k < len(deflections):
            angle_deg += float(deflections[k])
    return sheet


def headed_rod(rng):
    """A round rod with a head at one end: a disk, a hexagon, a ball or a ring across the axis (bolts, pins,
    knobs, eye bolts)."""
    radius, length = _u(rng, 2, 6), _u(rng, 30, 120)
    shape = mf.Manifold.cylinder(length, radius, radius, 24)
    head = str(rng.choice(['disk', 'hex', 'ball', 'ring']))
    if head in ('disk', 'hex'):
        r_head, h = radius * float(rng.uniform(1.6, 2.6)), _u(rng, 2, 8)
        shape = shape + mf.Manifold.cylinder(h, r_head, r_head, 40 if head == 'disk' else 6).translate((0, 0, length))
    elif head == 'ball':
        r_ball = radius * float(rng.uniform(1.5, 3.0))
        shape = shape + mf.Manifold.sphere(r_ball, 32).translate((0, 0, length + 0.6 * r_ball))
    else:
        r_ring = radius + _u(rng, 4, 14)
        ring = mf.CrossSection.circle(radius, 20).translate((r_ring, 0)).revolve(40).rotate((90, 0, 0))
        shape = shape + ring.translate((0, 0, length + r_ring - radius))
    return shape


def holed_plate(rng):
    """A thin plate with one to three through holes."""
    x, y, t = _u(rng, 30, 90), _u(rng, 25, 70), _u(rng, 3, 8)
    plate = _box(x, y, t)
    n_holes = int(rng.integers(1, 4))
    for k in range(n_holes):
        r = min(x / (2 * n_holes + 1), y / 3) * float(rng.uniform(0.3, 0.45))
        hole = mf.Manifold.cylinder(t * 3, r, r, 24).translate((x * (k + 1) / (n_holes + 1), y / 2, -t))
        plate = plate - hole
    return plate


def _surface_point(shape: mf.Manifold, rng: np.random.Generator) -> np.ndarray:
    mesh = to_trimesh(shape)
    points, _ = trimesh.sample.sample_surface(mesh, 1, seed=int(rng.integers(2 ** 31)))
    return points[0]


def compound(rng):
    """Two or three of the other kinds joined where one meets the other's surface (a ring on a rod, a pin
    through a block), at most 15 cm across: parts made of pieces are one part."""
    pieces = (box_small, box_thin, cylinder, tube, rod, bent_rod, l_profile)
    shape = pieces[rng.integers(len(pieces))](rng)
    for _ in range(int(rng.integers(1, 3))):
        piece = pieces[rng.integers(len(pieces))](rng).rotate(tuple(rng.uniform(0, 360, 3)))
        lo, hi = np.array(piece.bounding_box()).reshape(2, 3)
        for _ in range(10):    # the piece's centre, or a point towards one of its ends, onto the shape's surface
            joint = (lo + hi) / 2 + rng.uniform(0.0, 0.8) * (_surface_point(piece, rng) - (lo + hi) / 2)
            joined = shape + piece.translate(tuple(_surface_point(shape, rng) - joint))
            if len(joined.decompose()) == 1:       # in one piece (a tube's centre is in its bore)
                shape = joined
                break
    lo, hi = np.array(shape.bounding_box()).reshape(2, 3)
    return shape.scale(tuple([min(1.0, 0.15 / float((hi - lo).max()))] * 3))


def wedge(rng):
    """Test only: a right triangular prism."""
    a, b, length = _u(rng, 25, 60), _u(rng, 15, 40), _u(rng, 20, 70)
    return _prism([(0, 0), (a, 0), (0, b)], length)


def u_channel(rng):
    """Test only: a U-channel."""
    w, h, t, length = _u(rng, 25, 50), _u(rng, 15, 35), _u(rng, 3, 6), _u(rng, 40, 110)
    return _prism([(0, 0), (w, 0), (w, h), (w - t, h), (w - t, t), (t, t), (t, h), (0, h)], length)


TRAIN_KINDS: dict[str, Callable[[np.random.Generator], mf.Manifold]] = {
    'box_small': box_small, 'box_medium': box_medium, 'box_big': box_big, 'box_thin': box_thin,
    'box_long': box_long, 'cylinder': cylinder, 'l_profile': l_profile, 't_profile': t_profile, 'tube': tube,
    'rod': rod, 'bent_rod': bent_rod, 'bent_sheet': bent_sheet, 'holed_plate': holed_plate, 'compound': compound,
    'folded_sheet': folded_sheet, 'headed_rod': headed_rod}
TEST_KINDS: dict[str, Callable[[np.random.Generator], mf.Manifold]] = {'wedge': wedge, 'u_channel': u_channel}
SHAPE_SETS = {'train': TRAIN_KINDS, 'test': TEST_KINDS}


def random_shape(kind: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """A watertight mesh of ``kind`` (metres) with random dimensions, origin at its bounding-box centre."""
    builders = {**TRAIN_KINDS, **TEST_KINDS}
    if kind not in builders:
        raise ValueError(f'unknown shape kind {kind!r}; expected one of {", ".join(builders)}')
    mesh = to_trimesh(builders[kind](rng))
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    return mesh


def shape_names(shape_set: str, n_shapes: int, kinds: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(name, kind) of the ``n_shapes`` shapes of a set, its kinds (or only ``kinds``) taken in turn."""
    kinds = list(kinds or SHAPE_SETS[shape_set])
    return [(f'{shape_set}_{kinds[i % len(kinds)]}_{i:03d}', kinds[i % len(kinds)]) for i in range(n_shapes)]


def write_shape_catalog(root: Path, shape_set: str, n_shapes: int, seed: int,
                        kinds: tuple[str, ...] = ()) -> Catalog:
    """Write (or complete) a catalog folder of ``n_shapes`` random shapes of ``shape_set`` ('train' or
    'test'), of all its kinds or only ``kinds``; shape i depends only on (seed, set, kinds, i). No grasps:
    the shapes are for images only."""
    if shape_set not in SHAPE_SETS:
        raise ValueError(f'shape set {shape_set!r}: expected train or test')
    root = Path(root)
    have = Catalog([root])
    for i, (name, kind) in enumerate(shape_names(shape_set, n_shapes, kinds)):
        if name in have:
            continue
        mesh = random_shape(kind, np.random.default_rng([seed, i, list(SHAPE_SETS).index(shape_set)]))
        info = compute_model_info(mesh.vertices)
        write_object(root, name, FIRST_SHAPE_OBJ_ID + i, mesh, info, GraspSet(name, Gripper(), []), kind_of(info),
                     f'procedural {kind}')
    return Catalog([root])
