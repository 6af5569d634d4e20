"""The small models ``binpick demo`` runs with: segmentation and a pose teacher (the lower bound: synthetic
bins only) for a 320x240 camera, trained by this project's own trainers in about a quarter of an hour on
2 CPU cores. ``binpick demo --retrain-models`` remakes them; ``models/demo/`` ships the result."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from binpick.catalog import Catalog
from binpick.data import atomic
from binpick.sim.camera import PinholeCamera
from binpick.sim.generator import CellConfig

WIDTH, HEIGHT = 320, 240
SHIPPED = Path(__file__).resolve().parents[3] / 'models' / 'demo'


def demo_cell() -> CellConfig:
    """The shipped cell with its camera scaled to 320x240 (same field of view)."""
    cell = CellConfig.from_config()
    s = WIDTH / cell.camera.width
    K = cell.camera.K
    return dataclasses.replace(cell, camera=PinholeCamera.from_params(
        K[0, 0] * s, K[1, 1] * s, (K[0, 2] + 0.5) * s - 0.5, (K[1, 2] + 0.5) * s - 0.5, WIDTH, HEIGHT))


def model_paths(folder: Path, object_name: str) -> dict[str, Path]:
    return {'seg': folder / f'{object_name}_seg.pt', 'pose': folder / f'{object_name}_pose_lb.pt'}


def train_demo_models(out: Path, object_name: str, progress: bool = True, log=print) -> dict[str, Path]:
    """Simulate synthetic bins, train segmentation and the LB pose model, strip both; resumable."""
    from binpick.perception import checkpoint
    from binpick.perception.pose.estimator import KIND as POSE_KIND
    from binpick.perception.pose.labels import labels_from_bop
    from binpick.perception.pose.train import PoseTrainConfig, train_pose
    from binpick.perception.seg_model import SegConfig
    from binpick.perception.seg_train import SegTrainConfig, train_segmentation
    from binpick.perception.segmentation import KIND as SEG_KIND
    from binpick.sim.synth import SynthRequest, run as synth

    catalog = Catalog()
    obj = catalog.get(object_name)
    out = Path(out)
    data, work = out / 'data', out / 'work'
    if not (data / 'dataset_info.json').is_file():
        log(f'== simulating synthetic bins ({WIDTH}x{HEIGHT}) into {data}')
        synth(SynthRequest(obj.name, 'synthetic', 30, 1, 5, 'mixed', 7), data, demo_cell(), catalog, workers=2,
              progress=progress)
    final = model_paths(out, object_name)
    if not final['seg'].is_file():
        log('== training segmentation')
        config = SegConfig([obj.name], min_size=HEIGHT, max_size=WIDTH, anchor_sizes=(8, 16, 32, 64, 128))
        train_segmentation([data / 'train'], work / 'seg.pt', [obj.name], catalog, config,
                           SegTrainConfig(epochs=4, val_images=0, warmup_iters=50), resume=True, progress=progress,
                           log=log)
        checkpoint.strip(work / 'seg.pt', final['seg'], SEG_KIND)
    if not final['pose'].is_file():
        log('== training the pose teacher (LB)')
        train_pose(labels_from_bop(data / 'train', obj.obj_id), work / 'pose.pt', obj.name, catalog,
                   train=PoseTrainConfig(epochs=6), resume=True, progress=progress, log=log)
        checkpoint.strip(work / 'pose.pt', final['pose'], POSE_KIND)
    atomic.write_json(out / 'README.json', {'object': obj.name, 'camera': [WIDTH, HEIGHT],
                                            'made_by': 'binpick demo --retrain-models'})
    return final
