"""Test configuration: DDS discovery stays on this machine, in a domain of its own."""
import contextlib
import os
import subprocess

import pytest

# Set before anything imports rclpy: without it Fast DDS multicasts discovery out of the machine.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.pop('ROS_STATIC_PEERS', None)
# The cell's Fast DDS profile (whole frames through shared memory), as binpick bringup sets it
os.environ.setdefault('FASTRTPS_DEFAULT_PROFILES_FILE', os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'config', 'fastdds.xml'))
# A per-run domain keeps concurrent test runs (and a live cell) from seeing each other's topics.
os.environ.setdefault('ROS_DOMAIN_ID', str(10 + os.getpid() % 90))


def small_synth_dataset(out, object_name: str, width: int, seed: int, scenes: int = 2, domain: str = 'synthetic'):
    """A tiny BOP dataset of ``domain`` (``scenes`` train scenes + 1 test scene, one frame each, low
    bins) seen by a ``width`` x 3/4 ``width`` camera; returns its folder."""
    import dataclasses

    from binpick.catalog import Catalog
    from binpick.sim.camera import PinholeCamera
    from binpick.sim.generator import CellConfig
    from binpick.sim.synth import SynthRequest, run

    f, h = 0.9625 * width, width * 3 // 4
    cell = dataclasses.replace(CellConfig.from_config(),
                               camera=PinholeCamera.from_params(f, f, (width - 1) / 2, (h - 1) / 2, width, h))
    run(SynthRequest(object_name, domain, scenes, 1, 1, 'low', seed), out, cell, Catalog(), progress=False)
    return out


CELL_OBJECT = 'connector_block'


def tiny_cell_models(out):
    """Segmentation and pose checkpoints of a tiny size for the cell's tests (seconds to train; they detect
    little, which is all the plumbing needs), and the 160x120 dataset they were trained on."""
    from binpick.catalog import Catalog
    from binpick.perception.pose.labels import labels_from_bop
    from binpick.perception.pose.network import PoseNetConfig
    from binpick.perception.pose.train import PoseTrainConfig, train_pose
    from binpick.perception.seg_model import SegConfig
    from binpick.perception.seg_train import SegTrainConfig, train_segmentation

    catalog = Catalog()
    obj = catalog.get(CELL_OBJECT)
    data = small_synth_dataset(out / 'data', obj.name, width=160, seed=4)
    seg = SegConfig([obj.name], fpn_channels=32, mask_head_channels=32, min_size=120, max_size=160,
                    anchor_sizes=(8, 16, 32, 64, 128))
    train_segmentation([data / 'train'], out / 'seg.pt', [obj.name], catalog, seg,
                       SegTrainConfig(epochs=1, max_iters_per_epoch=2, warmup_iters=2), progress=False,
                       log=lambda *_: None)
    train_pose(labels_from_bop(data / 'train', obj.obj_id), out / 'pose.pt', obj.name, catalog,
               PoseNetConfig(obj.name, n_points=64, crop_px=32, point_dim=32, global_dim=64),
               PoseTrainConfig(epochs=1, batch_size=8), progress=False, log=lambda *_: None)
    return {'seg': out / 'seg.pt', 'pose': out / 'pose.pt', 'data': data}



@pytest.fixture(scope='session')
def cell_models(tmp_path_factory):
    """The tiny cell models, made once per test session."""
    return tiny_cell_models(tmp_path_factory.mktemp('cell_models'))


# Every process a test starts inherits this mark; the session checks at its end that none is left.
RUN_MARK = f'{os.getpid()}-{os.urandom(4).hex()}'
os.environ['BINPICK_TEST_RUN'] = RUN_MARK


def marked_processes() -> list:
    """Processes (other than this one) started by this test session, wherever they were reparented."""
    import psutil
    found = []
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and p.environ().get('BINPICK_TEST_RUN') == RUN_MARK:
                found.append(p)
        except (psutil.Error, OSError):
            continue
    return found


def kill_tree(proc) -> None:
    """Kill a started process (subprocess.Popen) and everything it started, whatever happened."""
    import psutil
    try:
        family = [psutil.Process(proc.pid)]
        family += family[0].children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(family, timeout=10)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@pytest.fixture(scope='session', autouse=True)
def no_process_left_behind():
    """Fails the test run (and kills them) if tests left processes running."""
    yield
    import psutil

    def running(procs):
        alive = []
        for p in procs:
            try:
                cmd = ' '.join(p.cmdline()[:4])
                # a zombie has exited (its parent may never reap it); the resource tracker is this
                # process's own multiprocessing helper and ends with it
                if p.status() != psutil.STATUS_ZOMBIE and 'multiprocessing.resource_tracker' not in cmd:
                    alive.append((p, cmd))
            except psutil.Error:
                continue
        return alive
    left = [p for p, _ in running(marked_processes())]
    psutil.wait_procs(left, timeout=15)   # let processes already told to stop finish
    left = running(left)
    for p, _ in left:
        p.kill()
    assert not left, f'tests left processes running: {[cmd for _, cmd in left]}'
