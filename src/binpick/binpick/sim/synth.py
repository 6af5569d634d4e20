"""``binpick synth``: write simulated bins as a BOP dataset, in parallel, resumable, scene by scene.

Layout of ``--out``::

    dataset_info.json            what generated it (object, domain, seed, camera ...); checked on resume
    camera.json, models/         BOP camera and the object's model + models_info
    models_eval/                 the model with 4000 extra vertices spread evenly on its surface, for pose errors
    train/<scene_id>/            synthetic: with ground truth; real: rgb, depth, scene_camera only
    test/<scene_id>/             with ground truth (evaluation)
    test_targets_bop19.json      BOP19 targets of test: instances at least 10 % visible, per image and object
    gt_eval_only/train/<scene_id>/   real domains: ground truth of train, for evaluation only
    camera_eval_only/<split>/<scene_id>/scene_camera.json   real domains: the true intrinsics the images
                                 were rendered with (the emulated calibration error), for evaluation only

Which K each figure uses: the pipeline (and ``scene_camera.json``) has the nominal K the cell believes;
ground-truth poses, masks and ``visib_fract`` are exact, so ADD(-S) and mask AP need no K at all; a
ground-truth pose projected onto the image must use ``camera_eval_only``'s true K to meet the masks.

Each scene is written into a hidden temporary folder and renamed into place when complete, so a
killed run never leaves a half scene that counts as done; rerunning skips finished scenes.
"""
from __future__ import annotations

import json
import os
import shutil
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from binpick.catalog import Catalog
from binpick.catalog.models_info import write_models_info
from binpick.data import atomic, bop
from binpick.errors import BinpickError
from binpick.evaluation.rules import RULES
from binpick.sim import domains
from binpick.sim.generator import BIN_FILL, CellConfig, SceneGenerator, SynthFrame

FORMAT = 'binpick-synth/1'
CAMERA_DIR = 'camera_eval_only'
TARGETS_FILE = 'test_targets_bop19.json'


class SynthError(BinpickError):
    """The dataset cannot be written (bad request, foreign folder, disk full, no permission)."""


@dataclass(frozen=True)
class SynthRequest:
    object_name: str
    domain: str
    scenes: int
    test_scenes: int
    frames_per_scene: int
    bin_fill: str
    seed: int

    def validate(self) -> None:
        if self.scenes <= 0 or self.test_scenes < 0 or self.frames_per_scene <= 0:
            raise SynthError(f'--scenes must be > 0 (got {self.scenes}), --test-scenes >= 0 (got '
                             f'{self.test_scenes}), --frames-per-scene > 0 (got {self.frames_per_scene})')
        if self.bin_fill not in (*BIN_FILL, 'mixed') and not (self.bin_fill.isdigit() and int(self.bin_fill) > 0):
            raise SynthError(f'--bin {self.bin_fill!r}: expected low, full, mixed or a number of parts')


def scene_seed(seed: int, domain: str, split: str, scene_id: int) -> int:
    """Seed of one scene: independent of workers, shards and order."""
    return zlib.crc32(f'{seed}|{domain}|{split}|{scene_id}'.encode())


def scene_objects(request: SynthRequest, split: str, scene_id: int) -> int:
    """Number of parts dropped in a scene (low 5-10, full 20-40, mixed alternates, or exactly N)."""
    if request.bin_fill.isdigit():
        return int(request.bin_fill)
    fill = request.bin_fill if request.bin_fill != 'mixed' else ('full' if scene_id % 2 == 0 else 'low')
    lo, hi = BIN_FILL[fill]
    return int(np.random.default_rng(scene_seed(request.seed, 'n', split, scene_id)).integers(lo, hi + 1))


def jobs(request: SynthRequest, shard: tuple[int, int] = (0, 1)) -> list[tuple[str, int]]:
    """(split, scene_id) of every scene of this shard."""
    everything = [('train', i) for i in range(request.scenes)] + [('test', i) for i in range(request.test_scenes)]
    index, count = shard
    return [job for k, job in enumerate(everything) if k % count == index]


def _dataset_info(request: SynthRequest, cell: CellConfig, fingerprint: str) -> dict:
    info = {'format': FORMAT, **asdict(request), 'object_fingerprint': fingerprint,
            'camera': {'K': cell.camera.K.tolist(), 'width': cell.camera.width, 'height': cell.camera.height},
            'camera_height_m': cell.camera_height_m, 'baseline_m': cell.baseline_m,
            'bin_inner_size_m': list(cell.bin.inner_size_m)}
    if request.domain in domains.PATH_TRACED:   # another renderer or look is another dataset
        from binpick.sim.pbr_renderer import BPY_VERSION, PbrSettings
        info['renderer'] = {'bpy': BPY_VERSION, **asdict(PbrSettings())}
    info.pop('scenes')       # more scenes may be added to a dataset later
    info.pop('test_scenes')
    return info


def same_dataset(out: Path, info: dict) -> bool:
    """Whether ``out`` holds a dataset already (False: none yet); SynthError when it was made otherwise."""
    info_path = out / 'dataset_info.json'
    if not info_path.is_file():
        return False
    existing = json.loads(info_path.read_text())
    changed = [k for k in info if existing.get(k) != json.loads(json.dumps(info[k]))]
    if changed:
        differences = ', '.join(f'{k}: {existing.get(k)!r}' for k in changed)
        raise SynthError(f'{out} holds a different dataset ({differences}); choose another --out')
    return True


def write_camera(out: Path, cell: CellConfig) -> None:
    """BOP ``camera.json`` of the cell's camera."""
    K = cell.camera.K
    atomic.write_json(out / 'camera.json', {
        'fx': float(K[0, 0]), 'fy': float(K[1, 1]), 'cx': float(K[0, 2]), 'cy': float(K[1, 2]),
        'width': cell.camera.width, 'height': cell.camera.height, 'depth_scale': bop.DEPTH_SCALE_DEFAULT})


def prepare_output(out: Path, request: SynthRequest, cell: CellConfig, catalog: Catalog) -> None:
    """Create ``out`` for this request, or check that it holds the same dataset (to resume or extend)."""
    obj = catalog.get(request.object_name)
    info = _dataset_info(request, cell, obj.fingerprint)
    info_path = out / 'dataset_info.json'
    if out.exists() and not out.is_dir():
        raise SynthError(f'{out}: exists and is not a folder')
    if same_dataset(out, info):
        return
    if out.is_dir() and any(out.iterdir()):
        raise SynthError(f'{out} is not empty and is not a binpick dataset; not writing into it')
    try:
        write_camera(out, cell)
        atomic.write_bytes(out / 'models' / f'obj_{obj.obj_id:06d}.ply', obj.mesh_path.read_bytes())
        write_models_info(out / 'models' / 'models_info.json', {obj.obj_id: obj.info})
        write_models_eval(out / 'models_eval', obj)
        atomic.write_json(info_path, info)   # last: marks the folder as this dataset
    except OSError as e:
        raise SynthError(f'{e.filename or out}: {e.strerror}') from None


def write_models_eval(folder: Path, obj, n_points: int = 4000) -> None:
    """BOP ``models_eval/``: the mesh (millimetres) whose vertices are its own plus ``n_points`` spread
    evenly over the surface, so that errors averaged over the vertices (ADD, ADD-S, what the BOP toolkit
    computes) weigh the surface evenly. The faces are the model's own."""
    import trimesh
    mesh = trimesh.load(obj.mesh_path, force='mesh', process=False)
    vertices = np.concatenate([mesh.vertices, 1000.0 * obj.sample_points(n_points)])
    dense = trimesh.Trimesh(vertices, mesh.faces, process=False)
    atomic.write_bytes(folder / f'obj_{obj.obj_id:06d}.ply', dense.export(file_type='ply'))
    write_models_info(folder / 'models_info.json', {obj.obj_id: obj.info})


def write_test_targets(out: Path) -> int:
    """Write ``test_targets_bop19.json`` from the finished test scenes; returns the number of targets."""
    targets = []
    for scene_dir in sorted(p for p in (out / 'test').glob('[0-9]*') if p.is_dir()):
        gts = bop.read_scene_gt(scene_dir / 'scene_gt.json')
        infos = bop.read_scene_gt_info(scene_dir / 'scene_gt_info.json')
        for im_id in sorted(gts):
            counts: dict[int, int] = {}
            for g, info in zip(gts[im_id], infos[im_id]):
                if info.visib_fract >= RULES['bop19'].min_visib_fract:
                    counts[g.obj_id] = counts.get(g.obj_id, 0) + 1
            targets += [{'im_id': im_id, 'inst_count': n, 'obj_id': obj_id, 'scene_id': int(scene_dir.name)}
                        for obj_id, n in sorted(counts.items())]
    atomic.write_json(out / TARGETS_FILE, targets)
    return sum(t['inst_count'] for t in targets)


def scene_done(out: Path, domain: str, split: str, scene_id: int) -> bool:
    done = (out / split / f'{scene_id:06d}' / 'scene_camera.json').is_file()
    if domain in domains.REAL_DOMAINS and split == 'train':
        done = done and (out / bop.GT_EVAL_DIR / split / f'{scene_id:06d}' / 'scene_gt.json').is_file()
    return done


def _write_scene_files(image_dir: Path, gt_dir: Path, frames: list[SynthFrame], obj_id: int,
                       camera_dir: Path | None) -> None:
    cams, true_cams, gts, infos = {}, {}, {}, {}
    for im_id, f in enumerate(frames):
        # no fsync per file: the whole temporary folder is synced once before it is renamed
        bop.write_frame_images(image_dir, im_id, f.rgb, f.depth_m, masks=f.masks, masks_visib=f.masks_visib,
                               mask_dir=gt_dir, fsync=False)
        cams[im_id] = bop.CameraView(f.K, bop.DEPTH_SCALE_DEFAULT, f.T_world_cam)
        true_cams[im_id] = bop.CameraView(f.K_true, bop.DEPTH_SCALE_DEFAULT, f.T_world_cam)
        gts[im_id] = [bop.GtPose(obj_id, T) for T in f.T_cam_obj]
        infos[im_id] = [bop.gt_info_from_masks(m, v, f.depth_m) for m, v in zip(f.masks, f.masks_visib)]
    bop.write_scene_gt(gt_dir / 'scene_gt.json', gts)
    bop.write_scene_gt_info(gt_dir / 'scene_gt_info.json', infos)
    if camera_dir is not None:
        bop.write_scene_camera(camera_dir / 'scene_camera.json', true_cams)
    bop.write_scene_camera(image_dir / 'scene_camera.json', cams)


def _place(tmp: Path, final: Path) -> None:
    if final.exists():  # left by a run killed between the two renames of a real train scene
        shutil.rmtree(final)
    os.rename(tmp, final)


def write_scene(out: Path, domain: str, split: str, scene_id: int, frames: list[SynthFrame], obj_id: int) -> None:
    """Write one scene atomically: temporary folders, then rename (ground truth first)."""
    name = f'{scene_id:06d}'
    tmp_images = out / split / f'.{name}.tmp-{os.getpid()}'
    separate_gt = domain in domains.REAL_DOMAINS and split == 'train'
    tmp_gt = out / bop.GT_EVAL_DIR / split / f'.{name}.tmp-{os.getpid()}' if separate_gt else tmp_images
    try:
        for d in {tmp_images, tmp_gt}:
            if d.exists():
                shutil.rmtree(d)
        # the true K goes straight to its final place: a scene is complete only once its images are renamed
        camera_dir = out / CAMERA_DIR / split / name if domain in domains.REAL_DOMAINS else None
        _write_scene_files(tmp_images, tmp_gt, frames, obj_id, camera_dir)
        os.sync()  # the scene's files reach the disk before the rename marks it complete
        if separate_gt:
            _place(tmp_gt, out / bop.GT_EVAL_DIR / split / name)
        _place(tmp_images, out / split / name)
    except OSError as e:
        for d in {tmp_images, tmp_gt}:
            shutil.rmtree(d, ignore_errors=True)
        raise SynthError(f'{e.filename or out}: {e.strerror}; scene {split}/{name} not written, '
                         'earlier scenes are complete') from None


def remove_stale_temporaries(out: Path) -> None:
    """Delete temporary scene folders of runs that are no longer alive."""
    for tmp in list(out.glob('*/.*.tmp-*')) + list(out.glob(f'{bop.GT_EVAL_DIR}/*/.*.tmp-*')):
        pid = int(tmp.name.rsplit('-', 1)[1]) if tmp.name.rsplit('-', 1)[1].isdigit() else -1
        try:
            os.kill(pid, 0)
            alive = pid != os.getpid()
        except (OSError, ValueError):
            alive = False
        if not alive:
            shutil.rmtree(tmp, ignore_errors=True)


# -- workers --------------------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(request: SynthRequest, cell: CellConfig, catalog_roots: list[str], out: str,
                 single_thread: bool) -> None:
    if single_thread:  # one process per core: OpenCV's own threads would only compete
        import cv2
        cv2.setNumThreads(1)
    catalog = Catalog([Path(r) for r in catalog_roots])
    obj = catalog.get(request.object_name)
    _WORKER.update(request=request, obj=obj, out=Path(out),
                   generator=SceneGenerator(obj, request.domain, cell, cell_seed=request.seed))


def _run_job(job: tuple[str, int]) -> tuple[str, int, int]:
    request, out = _WORKER['request'], _WORKER['out']
    split, scene_id = job
    try:
        frames = _WORKER['generator'].generate(scene_seed(request.seed, request.domain, split, scene_id),
                                               scene_objects(request, split, scene_id), request.frames_per_scene)
    except BinpickError as e:   # e.g. a render that failed: name the scene, keep the finished ones
        raise SynthError(f'scene {split}/{scene_id:06d} of {out}: {e}; the scenes written so far are complete, '
                         'rerun to render the rest') from None
    write_scene(out, request.domain, split, scene_id, frames, _WORKER['obj'].obj_id)
    return split, scene_id, len(frames)


def run_jobs(todo: list, workers: int, initializer, initargs: tuple, run_job, bar, finish=None) -> None:
    """Run ``run_job`` on every job of ``todo``, here (``finish`` afterwards) or in ``workers`` spawned
    processes, each set up by ``initializer(*initargs)``; one tick of ``bar`` per job done."""
    if workers == 1 or len(todo) <= 1:
        initializer(*initargs)
        try:
            for job in todo:
                run_job(job)
                bar.update()
        finally:
            if finish is not None:
                finish()
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context('spawn'), initializer=initializer,
                                 initargs=initargs) as pool:
            for _ in pool.map(run_job, todo):
                bar.update()
    bar.close()


def run(request: SynthRequest, out: Path, cell: CellConfig, catalog: Catalog, workers: int = 1,
        shard: tuple[int, int] = (0, 1), progress: bool = True) -> int:
    """Generate every missing scene of this shard; returns how many scenes were written."""
    from tqdm import tqdm

    request.validate()
    if workers <= 0:
        raise SynthError(f'--workers must be positive, got {workers}')
    if not 0 <= shard[0] < shard[1]:
        raise SynthError(f'--shard {shard[0]}/{shard[1]}: expected i/M with 0 <= i < M')
    out = Path(out)
    prepare_output(out, request, cell, catalog)
    remove_stale_temporaries(out)
    todo = [j for j in jobs(request, shard) if not scene_done(out, request.domain, *j)]
    bar = tqdm(total=len(todo), desc=f'{request.object_name} {request.domain}', unit='scene', disable=not progress)
    run_jobs(todo, workers, _init_worker, (request, cell, [str(r) for r in catalog.roots], str(out), workers > 1),
             _run_job, bar, lambda: _WORKER['generator'].close())
    if request.test_scenes:
        write_test_targets(out)
    return len(todo)
