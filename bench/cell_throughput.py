"""End-to-end latency, per-stage profile, sustained throughput and memory of the online cell.

Starts the graph the way `binpick bringup` does (one process per node, the demo models, the cell's 640x480
camera, full bins), then for --duration seconds records, for every frame, when each stage's output arrived
relative to the capture stamp: the camera (stereo depth), segmentation, poses. Samples the resident memory
of every node. Prints median / p95 latency per stage, frames/s, and memory growth after the warm-up.

--source sim: the simulated cell renders the bin on the same cores (`binpick bringup --sim`).
--source replay: a real cell's set-up without a simulator: the stereo camera node replays a folder of
stereo pairs (rendered once from the simulated cell before the graph starts) at the capture rate.
--period: the capture period; the default is the cell's (1 s). Faster captures than the cell processes
only queue work (each node takes the latest frame) and add latency through two stages sharing the cores.
The replay run at the cell's period gives the headline figures of --results (`latency_ms_p50/p95`).

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python bench/cell_throughput.py --duration 300
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')


def _tree(pid: int) -> list:
    """A process and all its descendants (psutil), empty when it has ended."""
    import psutil
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (MB); the retrainer's job runs in a child."""
    import psutil
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):     # a child that ended meanwhile
            total += p.memory_info().rss
    return total / 2**20


def cpu_s(pid: int) -> float:
    """CPU time (user + system, seconds) of a process and its live descendants so far."""
    import psutil
    total = 0.0
    for p in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = p.cpu_times()
            total += times.user + times.system
    return total


NAMESPACE = '/binpick_bench'
CELL_PERIOD_S = 1.0   # the cell's capture period (config/nodes.yaml: sim_cell period_s, stereo_camera rate_hz)
STAGES = {'camera': 'capture stamp to depth (stereo matching)',
          'segmentation': 'depth to instances (waiting for the node, segmentation)',
          'poses': 'instances to poses (waiting for the node, pose network, ICP)'}


def render_pairs(folder: Path, object_name: str, n: int) -> Path:
    """``n`` stereo pairs of the simulated cell's full bins as FOLDER/left/*.png and FOLDER/right/*.png."""
    import cv2

    from binpick.catalog import Catalog
    from binpick.sim.cell import SimCell
    from binpick.sim.generator import CellConfig
    for side in ('left', 'right'):
        (folder / side).mkdir(parents=True)
    sim = SimCell(Catalog().get(object_name), CellConfig.from_config(), fill='full', seed=0, refill_every=3,
                  fixed_camera=True)
    for k in range(n):
        cap = sim.capture()
        for side, rgb in (('left', cap.left_rgb), ('right', cap.right_rgb)):
            cv2.imwrite(str(folder / side / f'{k:04d}.png'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    sim.close()
    return folder


def update_results(path: Path, updates: dict, top: dict | None = None) -> None:
    """Merge ``updates`` into the JSON at ``path`` (written atomically); ``top``'s latency figures also become
    the file's headline keys (the issue's target is on the replayed camera)."""
    from binpick.data import atomic
    results = json.loads(path.read_text()) if path.is_file() else {}
    results.update(updates)
    if top is not None:
        results.update(latency_ms_p50=top['latency_ms_p50'], latency_ms_p95=top['latency_ms_p95'])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path, results)


def cell_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the cell under test (shared with bench/cell_soak.py)."""
    parser.add_argument('--object', default='zigzag_bracket')
    parser.add_argument('--period', type=float, default=CELL_PERIOD_S,
                        help=f'capture period of the camera (s; default {CELL_PERIOD_S}, the cell\'s)')
    parser.add_argument('--source', choices=['sim', 'replay'], default='sim')
    parser.add_argument('--replay-frames', type=int, default=20, help='stereo pairs rendered for --source replay')
    parser.add_argument('--params', action='append', default=[], metavar='YAML',
                        help='a ROS 2 parameter file applied over the bench\'s (repeatable), e.g. a thread count')


def start_cell(args: argparse.Namespace, run: Path) -> dict:
    """Start the cell's graph (the demo models, run folders in ``run``) in NAMESPACE; returns the node processes."""
    from binpick.commands.cell import cell_environment, start_graph
    from binpick.commands.demo import DEMO_PARAMS
    from binpick.demo_models import SHIPPED, model_paths
    cell_environment()
    models = model_paths(SHIPPED, args.object)
    params = run / 'params.yaml'
    params.write_text(DEMO_PARAMS.format(period_s=args.period, student_epochs=1, seed=0, refill_every=3))
    if args.source == 'replay':
        folder = render_pairs(run / 'pairs', args.object, args.replay_frames)
        params.write_text(params.read_text() + f'/**/stereo_camera:\n  ros__parameters:\n    source: folder\n'
                                               f'    folder: {folder}\n    rate_hz: {1.0 / args.period}\n')
    values = {'use_sim': str(args.source == 'sim').lower(), 'object_id': args.object,
              'segmentation_checkpoint': str(models['seg']), 'pose_checkpoint': str(models['pose']),
              'bank_dir': str(run / 'bank'), 'model_dir': str(run / 'models')}
    return start_graph(values, [str(params), *args.params], NAMESPACE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--duration', type=float, default=300.0, help='measured seconds (after the warm-up)')
    parser.add_argument('--warmup', type=float, default=60.0, help='seconds before measuring')
    cell_arguments(parser)
    parser.add_argument('--results', help='merge the figures into this JSON (e.g. results/cell/results.json)')
    args = parser.parse_args()

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from binpick.commands.cell import stop_all
    from binpick.nodes import base, msgs
    from binpick.sim.generator import CellConfig
    from binpick_interfaces.msg import InstanceSegmentation, ObjectPoseArray

    cam = CellConfig.from_config().camera
    procs = start_cell(args, Path(tempfile.mkdtemp(prefix='binpick_bench_')))
    rclpy.init()
    node = rclpy.create_node('bench', namespace=NAMESPACE)
    arrivals: dict[str, dict[int, float]] = {stage: {} for stage in STAGES}   # stage -> capture stamp -> arrival
    poses_per_frame: dict[int, int] = {}

    def arrived(stage: str):
        def on_message(msg) -> None:
            arrivals[stage][msgs.stamp_ns(msg.header)] = time.time()
            if stage == 'poses':
                poses_per_frame[msgs.stamp_ns(msg.header)] = len(msg.poses)
        return on_message
    for stage, (topic, kind) in {'camera': (base.INFO, msgs.CameraInfo),
                                 'segmentation': (base.INSTANCES, InstanceSegmentation),
                                 'poses': (base.POSES, ObjectPoseArray)}.items():
        node.create_subscription(kind, topic, arrived(stage), base.SENSOR_QOS)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        end_warmup = time.time() + args.warmup
        while time.time() < end_warmup or not arrivals['poses']:
            time.sleep(1.0)
            if any(p.poll() is not None for p in procs.values()):
                raise SystemExit('a node died during the warm-up')
        t0 = time.time()
        mem0 = {n: rss_mb(p.pid) for n, p in procs.items()}
        cpu0 = {n: cpu_s(p.pid) for n, p in procs.items()}
        samples = []
        while time.time() < t0 + args.duration:
            time.sleep(10.0)
            samples.append(sum(rss_mb(p.pid) for p in procs.values()))
            if any(p.poll() is not None for p in procs.values()):
                raise SystemExit('a node died during the measurement')
        mem1 = {n: rss_mb(p.pid) for n, p in procs.items()}
        elapsed = time.time() - t0
        cpu_share = {n: (cpu_s(p.pid) - cpu0[n]) / elapsed for n, p in procs.items()}  # cores in use
    finally:
        stop_all(procs)
        executor.shutdown()
        spinner.join(timeout=5.0)   # a spin still inside rclpy at exit aborts the process (std::terminate)
        node.destroy_node()
        rclpy.shutdown()

    # frames captured in the window whose poses arrived, and each stage's arrival after the capture stamp
    frames = sorted(st for st, t in arrivals['poses'].items() if t0 <= st / 1e9 and t <= t0 + args.duration)
    print(f'cell: {args.object}, {cam.width}x{cam.height} camera, full bins, source {args.source}, captures every '
          f'{args.period} s, {os.cpu_count()} CPU cores, all nodes on this machine')
    captured = [st for st in arrivals['camera'] if t0 <= st / 1e9 <= t0 + args.duration]
    print(f'measured {args.duration:.0f} s after a {args.warmup:.0f} s warm-up: {len(captured)} frames with depth, '
          f'{len(frames)} with poses, {np.mean([poses_per_frame[st] for st in frames]):.1f} poses per frame')
    print('| stage | median ms | p95 ms | (after the capture stamp, and the stage alone) |\n| --- | --- | --- | --- |')
    previous, profile = None, {}
    for stage in STAGES:
        after = np.array([arrivals[stage][st] - st / 1e9 for st in frames if st in arrivals[stage]]) * 1000
        profile[stage] = {'after_capture_ms_p50': float(np.median(after)),
                          'after_capture_ms_p95': float(np.percentile(after, 95))}
        line = f'| {stage} | {np.median(after):.0f} | {np.percentile(after, 95):.0f} |'
        if previous is not None:
            alone = np.array([arrivals[stage][st] - arrivals[previous][st] for st in frames
                              if st in arrivals[stage] and st in arrivals[previous]]) * 1000
            profile[stage].update(stage_ms_p50=float(np.median(alone)), stage_ms_p95=float(np.percentile(alone, 95)))
            line += f' {STAGES[stage]}: median {np.median(alone):.0f} ms, p95 {np.percentile(alone, 95):.0f} ms |'
        else:
            line += f' {STAGES[stage]} |'
        print(line)
        previous = stage
    print(f'throughput: {len(frames) / args.duration:.2f} frames/s with poses')
    growth = sum(mem1.values()) - sum(mem0.values())
    if args.results:
        latency = {'source': args.source, 'period_s': args.period, 'duration_s': args.duration,
                   'warmup_s': args.warmup, 'frames_with_poses': len(frames), 'fps': len(frames) / args.duration,
                   'latency_ms_p50': profile['poses']['after_capture_ms_p50'],
                   'latency_ms_p95': profile['poses']['after_capture_ms_p95'], 'stages': profile,
                   'memory_growth_mb': growth, 'cpu_count': os.cpu_count(), 'params': args.params,
                   'cpu_cores_used': cpu_share}
        # a run with the user's parameter files is kept apart; the headline is the default cell's
        key = '_'.join([f'latency_{args.source}_{args.period:g}s', *(Path(p).stem for p in args.params)])
        headline = args.source == 'replay' and args.period == CELL_PERIOD_S and not args.params
        update_results(Path(args.results), {key: latency}, top=latency if headline else None)
    print(f'memory of all nodes: {sum(mem0.values()):.0f} MB -> {sum(mem1.values()):.0f} MB (growth {growth:+.1f} MB; '
          f'peak {max(samples):.0f} MB)')
    for n in procs:
        print(f'  {n}: {mem0[n]:.0f} -> {mem1[n]:.0f} MB')
    print(f'CPU in use over the window: {sum(cpu_share.values()):.2f} of {os.cpu_count()} cores')
    for n, share in cpu_share.items():
        print(f'  {n}: {share:.2f} cores')


if __name__ == '__main__':
    main()
