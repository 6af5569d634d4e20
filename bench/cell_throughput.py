"""End-to-end latency, sustained throughput and memory of the online cell on the simulated bin.

Starts the graph the way `binpick bringup --sim` does (one process per node, the demo models, the
cell's 640x480 camera, full bins), then for --duration seconds records, for every pose message, the
time from the capture stamp to its arrival (camera -> stereo depth -> segmentation -> poses), and samples
the resident memory of every node. Prints median / p95 latency, frames/s, and memory growth after the
warm-up. Usage:

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python bench/cell_throughput.py --duration 300
"""
from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (MB), from /proc."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f'/proc/{p}/status').read_text().splitlines():
                if line.startswith('VmRSS:'):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        kids = [int(c) for c in Path(f'/proc/{pid}/task/{pid}/children').read_text().split()]
    except FileNotFoundError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--duration', type=float, default=300.0, help='measured seconds (after the warm-up)')
    parser.add_argument('--warmup', type=float, default=60.0, help='seconds before measuring')
    parser.add_argument('--object', default='zigzag_bracket')
    parser.add_argument('--period', type=float, default=0.25, help='capture period of the simulated camera (s)')
    args = parser.parse_args()

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from binpick.commands.cell import cell_dds, start_graph, stop_all
    from binpick.commands.demo import DEMO_PARAMS
    from binpick.demo_models import SHIPPED, model_paths
    from binpick.nodes import base, msgs
    from binpick.sim.generator import CellConfig
    from binpick_interfaces.msg import ObjectPoseArray

    cell_dds()
    models = model_paths(SHIPPED, args.object)
    run = Path(tempfile.mkdtemp(prefix='binpick_bench_'))
    cam = CellConfig.from_config().camera
    params = run / 'params.yaml'
    params.write_text(DEMO_PARAMS.format(period_s=args.period, student_epochs=1, seed=0))
    values = {'use_sim': 'true', 'object_id': args.object, 'segmentation_checkpoint': str(models['seg']),
              'pose_checkpoint': str(models['pose']), 'bank_dir': str(run / 'bank'), 'model_dir': str(run / 'models')}
    procs = start_graph(values, [str(params)], '/binpick_bench')
    rclpy.init()
    node = rclpy.create_node('bench', namespace='/binpick_bench')
    arrivals: list[tuple[float, float, int]] = []      # (arrival wall time, latency s, poses)

    def on_poses(msg: ObjectPoseArray) -> None:
        now = time.time()
        arrivals.append((now, now - msgs.stamp_ns(msg.header) / 1e9, len(msg.poses)))
    node.create_subscription(ObjectPoseArray, base.POSES, on_poses, base.SENSOR_QOS)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        end_warmup = time.time() + args.warmup
        while time.time() < end_warmup or not arrivals:
            time.sleep(1.0)
            if any(p.poll() is not None for p in procs.values()):
                raise SystemExit('a node died during the warm-up')
        t0 = time.time()
        mem0 = {n: rss_mb(p.pid) for n, p in procs.items()}
        samples = []
        while time.time() < t0 + args.duration:
            time.sleep(10.0)
            samples.append(sum(rss_mb(p.pid) for p in procs.values()))
            if any(p.poll() is not None for p in procs.values()):
                raise SystemExit('a node died during the measurement')
        mem1 = {n: rss_mb(p.pid) for n, p in procs.items()}
    finally:
        stop_all(procs)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown()

    window = [(t, lat, n) for t, lat, n in arrivals if t0 <= t <= t0 + args.duration]
    lat_ms = np.array([lat for _, lat, _ in window]) * 1000
    parts = np.array([n for _, _, n in window])
    print(f'cell: {args.object}, {cam.width}x{cam.height} camera, full bins, captures every {args.period} s, '
          f'{os.cpu_count()} CPU cores, all nodes on this machine')
    print(f'measured {args.duration:.0f} s after a {args.warmup:.0f} s warm-up: {len(window)} pose messages, '
          f'{parts.mean():.1f} poses per frame')
    print(f'latency camera stamp -> poses received: median {np.median(lat_ms):.0f} ms, p95 '
          f'{np.percentile(lat_ms, 95):.0f} ms')
    print(f'throughput: {len(window) / args.duration:.2f} frames/s sustained')
    growth = sum(mem1.values()) - sum(mem0.values())
    print(f'memory of all nodes: {sum(mem0.values()):.0f} MB -> {sum(mem1.values()):.0f} MB (growth {growth:+.1f} MB; '
          f'peak {max(samples):.0f} MB)')
    for n in procs:
        print(f'  {n}: {mem0[n]:.0f} -> {mem1[n]:.0f} MB')


if __name__ == '__main__':
    main()
