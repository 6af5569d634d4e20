"""``binpick synth-shapes``: class-agnostic bins of procedural shapes as a BOP dataset (for UOIS training).

Each scene is a tote of one random shape of the dataset's shape set (``modelfree.shapes``), packed at
random, semi-ordered or ordered, in the synthetic or a real-emulated domain; each part is one instance
(its own ground-truth pose and mask, the shape's obj_id). Layout as ``binpick synth`` (``sim.synth``),
plus ``shapes/``: the catalog folder of the shapes. Resumable scene by scene, in parallel.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from binpick.catalog import Catalog
from binpick.data import atomic
from binpick.modelfree.shapes import SHAPE_SETS, write_shape_catalog
from binpick.sim import domains
from binpick.sim.bin_physics import PACKINGS
from binpick.sim.generator import CellConfig, SceneGenerator
from binpick.sim.synth import (
    SynthError,
    jobs,
    remove_stale_temporaries,
    run_jobs,
    same_dataset,
    scene_done,
    scene_seed,
    write_camera,
    write_scene,
)

FORMAT = 'binpick-shapes/1'
PACKING_WEIGHTS = {'random': 0.5, 'semi': 0.25, 'ordered': 0.25}
MAX_PARTS = 40


@dataclass(frozen=True)
class ShapeSynthRequest:
    domain: str
    scenes: int
    test_scenes: int
    frames_per_scene: int
    shapes: int
    shape_set: str
    seed: int
    kinds: tuple[str, ...] = ()     # only these kinds of the set (empty: all)

    def validate(self) -> None:
        if self.domain not in domains.DOMAINS:
            raise SynthError(f'--domain {self.domain!r}: expected one of {", ".join(domains.DOMAINS)}')
        if self.shape_set not in SHAPE_SETS:
            raise SynthError(f'--shape-set {self.shape_set!r}: expected one of {", ".join(SHAPE_SETS)}')
        unknown = [k for k in self.kinds if k not in SHAPE_SETS[self.shape_set]]
        if unknown:
            raise SynthError(f'--kinds {" ".join(unknown)}: not kinds of the {self.shape_set} set '
                             f'({", ".join(SHAPE_SETS[self.shape_set])})')
        if self.scenes < 0 or self.test_scenes < 0 or self.scenes + self.test_scenes == 0:
            raise SynthError(f'--scenes {self.scenes} and --test-scenes {self.test_scenes}: need at least one scene')
        if self.frames_per_scene <= 0 or self.shapes <= 0:
            raise SynthError(f'--frames-per-scene {self.frames_per_scene} and --shapes {self.shapes} must be > 0')


@dataclass(frozen=True)
class ScenePlan:
    shape: str
    packing: str
    parts: int


def plan_scene(request: ShapeSynthRequest, catalog: Catalog, split: str, scene_id: int,
               bin_area_m2: float) -> ScenePlan:
    """The shape, packing and part count of one scene; depends only on the request and the scene."""
    rng = np.random.default_rng(scene_seed(request.seed, 'plan', split, scene_id))
    names = catalog.names()
    shape = names[int(rng.integers(len(names)))]
    packing = str(rng.choice(PACKINGS, p=[PACKING_WEIGHTS[p] for p in PACKINGS]))
    footprint = np.prod(np.sort(catalog.get(shape).mesh.extents)[::-1][:2])
    per_layer = max(1, int(bin_area_m2 / footprint))
    most = max(3, min(MAX_PARTS, int(1.5 * per_layer)))
    parts = int(rng.integers(min(max(2, per_layer // 4), most - 1), most + 1))
    return ScenePlan(shape, packing, parts)


def prepare_output(out: Path, request: ShapeSynthRequest, cell: CellConfig) -> Catalog:
    """Create ``out`` (camera, shapes catalog, dataset_info) or check it holds this dataset; its shapes."""
    info = {'format': FORMAT, **asdict(request),
            'camera': {'K': cell.camera.K.tolist(), 'width': cell.camera.width, 'height': cell.camera.height},
            'bin_inner_size_m': list(cell.bin.inner_size_m)}
    for key in ('scenes', 'test_scenes'):     # more scenes may be added later
        info.pop(key)
    if not request.kinds:
        info.pop('kinds')                     # datasets of every kind read as before the option existed
    else:
        info['kinds'] = list(request.kinds)
    if not same_dataset(out, info) and out.is_dir() and any(p.name != 'shapes' for p in out.iterdir()):
        raise SynthError(f'{out} is not empty and is not a binpick shapes dataset; not writing into it')
    try:
        shapes = write_shape_catalog(out / 'shapes', request.shape_set, request.shapes, request.seed,
                                     request.kinds)
        write_camera(out, cell)
        atomic.write_json(out / 'dataset_info.json', info)   # last: marks the folder as this dataset
    except OSError as e:
        raise SynthError(f'{e.filename or out}: {e.strerror}') from None
    return shapes


_WORKER: dict = {}


def _init_worker(request: ShapeSynthRequest, cell: CellConfig, out: str, single_thread: bool) -> None:
    if single_thread:
        import cv2
        cv2.setNumThreads(1)
    _WORKER.update(request=request, cell=cell, out=Path(out), catalog=Catalog([Path(out) / 'shapes']))


def _run_job(job: tuple[str, int]) -> tuple[str, int, int]:
    request, cell, out, catalog = (_WORKER[k] for k in ('request', 'cell', 'out', 'catalog'))
    split, scene_id = job
    L, W, _ = cell.bin.inner_size_m
    plan = plan_scene(request, catalog, split, scene_id, L * W)
    obj = catalog.get(plan.shape)
    generator = SceneGenerator(obj, request.domain, cell, cell_seed=request.seed)
    try:
        frames = generator.generate(scene_seed(request.seed, request.domain, split, scene_id), plan.parts,
                                    request.frames_per_scene, plan.packing)
    finally:
        generator.close()
    write_scene(out, request.domain, split, scene_id, frames, obj.obj_id)
    return split, scene_id, len(frames)


def run(request: ShapeSynthRequest, out: Path, cell: CellConfig, workers: int = 1, progress: bool = True) -> int:
    """Generate every missing scene; returns how many were written."""
    from tqdm import tqdm

    request.validate()
    out = Path(out)
    prepare_output(out, request, cell)
    remove_stale_temporaries(out)
    todo = [j for j in jobs(request) if not scene_done(out, request.domain, *j)]
    bar = tqdm(total=len(todo), desc=f'{request.shape_set} shapes {request.domain}', unit='scene',
               disable=not progress)
    run_jobs(todo, workers, _init_worker, (request, cell, str(out), workers > 1), _run_job, bar)
    return len(todo)
