"""The object catalog: built-in parts shipped with binpick plus the user's own CAD.

A catalog folder is a BOP ``models`` folder with two additions::

    <dir>/objects.yaml                   name, obj_id, kind, description of every object
    <dir>/models/obj_<obj_id:06d>.ply    mesh in millimetres (BOP)
    <dir>/models/models_info.json        diameter, box, symmetries in millimetres (BOP)
    <dir>/grasps/<name>.yaml             parallel-jaw grasps in the object frame, metres
    <dir>/collision/obj_<obj_id:06d>.obj convex decomposition for physics, metres

``objects.yaml`` is written last, so an object appears only once all its files are complete.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import trimesh
import yaml

from binpick.catalog.collision import convex_decomposition
from binpick.catalog.models_info import (
    ContinuousSymmetry,
    ModelInfo,
    compute_model_info,
    read_models_info,
    write_models_info,
)
from binpick.data import atomic
from binpick.data.errors import DataFormatError
from binpick.data.jsonfields import load_yaml
from binpick.errors import BinpickError
from binpick.geometry import axis_angle, close_group, make_T, raycasting_scene, transform_points
from binpick.grasp.grasp_set import GraspSet, Gripper

BUILTIN_DIR = Path(__file__).parent / 'builtin'
FIRST_USER_OBJ_ID = 101
MIN_DIAMETER_M, MAX_DIAMETER_M = 0.005, 0.6


class CatalogError(BinpickError, ValueError):
    """A catalog entry or a mesh given to the catalog is not usable."""


def user_catalog_dir() -> Path:
    """Where ``binpick catalog add`` writes: $BINPICK_CATALOG or ~/.local/share/binpick/catalog."""
    env = os.environ.get('BINPICK_CATALOG')
    if env:
        return Path(env)
    return Path(os.environ.get('XDG_DATA_HOME', Path.home() / '.local' / 'share')) / 'binpick' / 'catalog'


@dataclass
class CatalogObject:
    """One object of the catalog; meshes and grasps load on first use."""

    name: str
    obj_id: int
    kind: str
    description: str
    info: ModelInfo
    root: Path

    @property
    def mesh_path(self) -> Path:
        return self.root / 'models' / f'obj_{self.obj_id:06d}.ply'

    @property
    def collision_path(self) -> Path:
        """Convex decomposition for physics (OBJ, metres)."""
        return self.root / 'collision' / f'obj_{self.obj_id:06d}.obj'

    @property
    def grasps_path(self) -> Path:
        return self.root / 'grasps' / f'{self.name}.yaml'

    @cached_property
    def mesh(self) -> trimesh.Trimesh:
        """The mesh in metres, object frame."""
        mesh = trimesh.load(self.mesh_path, force='mesh', process=False)
        mesh.apply_scale(0.001)
        return mesh

    def grasps(self) -> GraspSet:
        return GraspSet.load(self.grasps_path)

    def sample_points(self, n: int, seed: int = 0) -> np.ndarray:
        """(n, 3) points sampled uniformly on the surface, object frame, metres."""
        pts, _ = trimesh.sample.sample_surface_even(self.mesh, n, seed=seed)
        if len(pts) < n:  # the even sampler can return fewer points
            extra, _ = trimesh.sample.sample_surface(self.mesh, n - len(pts), seed=seed)
            pts = np.concatenate([pts, extra])
        return np.asarray(pts, dtype=np.float64)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 (16 hex) of the mesh file and models_info entry; models record it when trained."""
        h = hashlib.sha256(self.mesh_path.read_bytes())
        h.update(yaml.safe_dump(self.info.to_bop(), sort_keys=True).encode())
        return h.hexdigest()[:16]


def _read_index(root: Path) -> list[dict]:
    path = root / 'objects.yaml'
    if not path.is_file():
        return []
    doc = load_yaml(path) or {}
    entries = doc.get('objects') or []
    for i, e in enumerate(entries):
        for key in ('name', 'obj_id'):
            if not isinstance(e, dict) or key not in e:
                raise DataFormatError(path, f'objects[{i}]', f'missing field {key!r}')
    return entries


class Catalog:
    """Objects from one or more catalog folders (later folders may not reuse names or ids)."""

    def __init__(self, roots: list[Path] | None = None) -> None:
        self.roots = [Path(r) for r in (roots if roots is not None else [BUILTIN_DIR, user_catalog_dir()])]
        self._objects: dict[str, CatalogObject] = {}
        for root in self.roots:
            entries = _read_index(root)
            if not entries:
                continue
            infos = read_models_info(root / 'models' / 'models_info.json')
            for e in entries:
                name, obj_id = str(e['name']), int(e['obj_id'])
                if name in self._objects or obj_id in {o.obj_id for o in self._objects.values()}:
                    raise CatalogError(f'{root / "objects.yaml"}: object {name!r} (obj_id {obj_id}) '
                                       'clashes with an object of an earlier catalog')
                if obj_id not in infos:
                    raise DataFormatError(root / 'models' / 'models_info.json', f'object {obj_id}',
                                          f'missing entry for {name!r}')
                self._objects[name] = CatalogObject(name, obj_id, str(e.get('kind', '')),
                                                    str(e.get('description', '')), infos[obj_id], root)

    def names(self) -> list[str]:
        return sorted(self._objects, key=lambda n: self._objects[n].obj_id)

    def __iter__(self):
        return iter(self._objects[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, name: str) -> bool:
        return name in self._objects

    def get(self, name: str) -> CatalogObject:
        """The object called ``name``; CatalogError listing the known names otherwise."""
        try:
            return self._objects[name]
        except KeyError:
            raise CatalogError(f'no object {name!r} in the catalog; known: {", ".join(self.names())}') from None

    def by_id(self, obj_id: int) -> CatalogObject:
        for o in self._objects.values():
            if o.obj_id == obj_id:
                return o
        raise CatalogError(f'no object with obj_id {obj_id} in the catalog')


def kind_of(info: ModelInfo) -> str:
    return {'continuous': 'continuous-symmetric', 'discrete': 'discrete-symmetric',
            'none': 'asymmetric'}[info.symmetry_kind]


def write_object(root: Path, name: str, obj_id: int, mesh_m: trimesh.Trimesh, info: ModelInfo,
                 grasps: GraspSet, kind: str, description: str) -> CatalogObject:
    """Add one object to the catalog folder ``root``: mesh, models_info, grasps, then the index."""
    entries = [e for e in _read_index(root) if e['name'] != name]
    infos = read_models_info(root / 'models' / 'models_info.json') \
        if (root / 'models' / 'models_info.json').is_file() else {}
    mesh_mm = mesh_m.copy()
    mesh_mm.apply_scale(1000.0)
    atomic.write_bytes(root / 'models' / f'obj_{obj_id:06d}.ply', mesh_mm.export(file_type='ply'))
    convex_decomposition(mesh_m, root / 'collision' / f'obj_{obj_id:06d}.obj')
    grasps.save(root / 'grasps' / f'{name}.yaml')
    infos[obj_id] = info
    write_models_info(root / 'models' / 'models_info.json', infos)
    entries.append({'name': name, 'obj_id': obj_id, 'kind': kind, 'description': description})
    entries.sort(key=lambda e: int(e['obj_id']))
    atomic.write_text(root / 'objects.yaml', yaml.safe_dump({'version': 1, 'objects': entries},
                                                            sort_keys=False))
    return CatalogObject(name, obj_id, kind, description, info, root)


def validate_mesh(mesh: trimesh.Trimesh, source: Path, units: str) -> None:
    """Refuse meshes binpick cannot use (empty, open, implausible size in metres)."""
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise CatalogError(f'{source}: the mesh is empty (no faces)')
    if not mesh.is_watertight:
        open_edges = int((trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1)).shape[0])
        raise CatalogError(f'{source}: the mesh is not watertight ({open_edges} open edges); '
                           'close its holes in your CAD tool and export again')
    diameter = float(np.linalg.norm(mesh.extents))
    if not MIN_DIAMETER_M <= diameter <= MAX_DIAMETER_M:
        hint = ''
        if units == 'm' and diameter > MAX_DIAMETER_M:
            hint = '; the file looks like millimetres: use --units mm'
        elif units == 'mm' and diameter < MIN_DIAMETER_M:
            hint = '; the file looks like metres: use --units m'
        raise CatalogError(f'{source}: object size {diameter:.4g} m (with --units {units}) is outside '
                           f'[{MIN_DIAMETER_M}, {MAX_DIAMETER_M}] m{hint}')


def parse_symmetry(specs: list[str]) -> tuple[list[np.ndarray], list[ContinuousSymmetry]]:
    """Symmetries from CLI specs: ``continuous:AXIS``, ``discrete:AXIS:N``, ``flip:AXIS``.

    AXIS is x, y or z of the object frame (through the origin). ``discrete:z:6`` is a 6-fold
    rotation about z; ``flip:x`` a half turn about x. Discrete generators are closed into a group.
    """
    axes = {'x': (1.0, 0.0, 0.0), 'y': (0.0, 1.0, 0.0), 'z': (0.0, 0.0, 1.0)}
    generators, continuous = [], []
    for spec in specs:
        parts = spec.split(':')
        try:
            if parts[0] == 'none' and len(parts) == 1:
                continue
            axis = np.array(axes[parts[1]])
            if parts[0] == 'continuous' and len(parts) == 2:
                continuous.append(ContinuousSymmetry(axis))
            elif parts[0] == 'discrete' and len(parts) == 3 and int(parts[2]) >= 2:
                generators.append(make_T(axis_angle(axis, 2 * np.pi / int(parts[2])), np.zeros(3)))
            elif parts[0] == 'flip' and len(parts) == 2:
                generators.append(make_T(axis_angle(axis, np.pi), np.zeros(3)))
            else:
                raise ValueError
        except (IndexError, KeyError, ValueError):
            raise CatalogError(f'--symmetry {spec!r}: expected none, continuous:AXIS, discrete:AXIS:N '
                               '(N >= 2) or flip:AXIS with AXIS in x, y, z') from None
    return (close_group(generators)[1:] if generators else []), continuous


def check_symmetries(mesh: trimesh.Trimesh, discrete: list[np.ndarray],
                     continuous: list[ContinuousSymmetry], source: Path) -> None:
    """Refuse declared symmetries the mesh does not have (surface deviation above 1 % of its size)."""
    pts, _ = trimesh.sample.sample_surface(mesh, 3000, seed=0)
    scene = raycasting_scene(mesh.vertices, mesh.faces)
    tol = 0.01 * float(np.linalg.norm(mesh.extents)) + 0.0005
    tests = [(S, 'discrete') for S in discrete]
    tests += [(make_T(axis_angle(c.axis, a), c.offset_m - axis_angle(c.axis, a) @ c.offset_m), 'continuous')
              for c in continuous for a in (0.7, 2.1, 3.9)]
    for S, what in tests:
        moved = transform_points(S, pts).astype(np.float32)
        deviation = float(np.percentile(scene.compute_distance(moved).numpy(), 95))
        if deviation > tol:
            raise CatalogError(f'{source}: the mesh is not {what}-symmetric as declared '
                               f'(surface moves {deviation * 1000:.1f} mm under the symmetry)')


def add_object(name: str, mesh_file: str | Path, units: str, symmetry: list[str],
               root: Path | None = None, center: bool = False, description: str = '',
               grasp_samples: int = 1500, hold_trials: int = 5, catalog: Catalog | None = None) -> CatalogObject:
    """Validate a user's CAD mesh and add it (mesh, models_info, grasps) to a catalog folder.

    Args:
        name: catalog name (letters, digits, '_' and '-').
        mesh_file: .ply, .obj or .stl file.
        units: 'mm' or 'm', the units of the file.
        symmetry: specs for :func:`parse_symmetry`, in the (optionally centred) object frame.
        root: catalog folder to write (default: :func:`user_catalog_dir`).
        center: move the origin to the centre of the bounding box first.
        hold_trials: physics trials per grasp (:func:`check_grasp_holds`); 0 keeps every sampled grasp untested.

    Raises:
        CatalogError: the name is taken or malformed, the mesh is empty, open, of implausible
            size for its units, or lacks a declared symmetry. Nothing is written then.
    """
    from binpick.grasp.antipodal import sample_antipodal_grasps

    mesh_file = Path(mesh_file)
    root = Path(root) if root is not None else user_catalog_dir()
    catalog = catalog if catalog is not None else Catalog([BUILTIN_DIR, root])
    if not name or not all(c.isalnum() or c in '_-' for c in name):
        raise CatalogError(f'object name {name!r}: use letters, digits, "_" and "-" only')
    if name in catalog:
        raise CatalogError(f'object {name!r} exists already in {catalog.get(name).root}, not overwriting')
    if units not in ('mm', 'm'):
        raise CatalogError(f'--units {units!r}: expected mm or m')
    if mesh_file.suffix.lower() not in ('.ply', '.obj', '.stl'):
        raise CatalogError(f'{mesh_file}: unsupported mesh format {mesh_file.suffix!r} (use .ply, .obj, .stl)')
    if not mesh_file.is_file():
        raise CatalogError(f'{mesh_file}: file does not exist')
    try:
        mesh = trimesh.load(mesh_file, force='mesh')
    except Exception as e:  # noqa: BLE001 - trimesh raises many types for unreadable files; all become one error
        raise CatalogError(f'{mesh_file}: cannot read the mesh ({e})') from None
    if not isinstance(mesh, trimesh.Trimesh):
        raise CatalogError(f'{mesh_file}: the file holds no triangle mesh')
    if units == 'mm':
        mesh.apply_scale(0.001)
    validate_mesh(mesh, mesh_file, units)
    if center:
        mesh.apply_translation(-mesh.bounds.mean(axis=0))
    discrete, continuous = parse_symmetry(symmetry)
    check_symmetries(mesh, discrete, continuous, mesh_file)
    info = compute_model_info(mesh.vertices, discrete, continuous)
    grasps = GraspSet(name, Gripper(), sample_antipodal_grasps(mesh, n_surface=grasp_samples))
    obj_id = max([FIRST_USER_OBJ_ID - 1] + [o.obj_id for o in catalog]) + 1
    obj = write_object(root, name, obj_id, mesh, info, grasps, kind_of(info),
                       description or f'added from {mesh_file.name}')
    if hold_trials:
        check_grasp_holds(obj, hold_trials)
    return obj


def check_grasp_holds(obj: CatalogObject, trials: int = 5, progress: bool = False) -> GraspSet:
    """Keep only the grasps of ``obj`` its hand holds through a lift and a swing in ``trials`` physics trials
    (:func:`binpick.sim.hand.keep_holding`), scored by their hold rate; rewrites its grasp file."""
    from binpick.sim.hand import keep_holding
    grasps = obj.grasps()
    tested = GraspSet(grasps.object_name, grasps.gripper, keep_holding(obj, grasps.grasps, trials, progress=progress))
    tested.save(obj.grasps_path)
    return tested


def build_builtin(root: Path = BUILTIN_DIR, names: list[str] | None = None) -> list[CatalogObject]:
    """(Re)generate the built-in parts into ``root`` (what ``make catalog`` runs)."""
    from binpick.catalog.shapes import BUILTIN_PARTS, build_part
    from binpick.grasp.antipodal import sample_antipodal_grasps

    written = []
    for name in names or list(BUILTIN_PARTS):
        spec = BUILTIN_PARTS[name]
        mesh, discrete, continuous = build_part(name)
        info = compute_model_info(mesh.vertices, discrete, continuous)
        grasps = GraspSet(name, Gripper(), sample_antipodal_grasps(mesh))
        obj = write_object(root, name, spec.obj_id, mesh, info, grasps, spec.kind, spec.description)
        check_grasp_holds(obj)
        written.append(obj)
    return written
