"""binpick bringup | record | demo: the online cell from the pip install."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from binpick.commands.args import positive
from binpick.errors import BinpickError


def local_dds_for_sim() -> None:
    """The simulated cell talks on this machine only, unless the user chose otherwise."""
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')


def cell_environment() -> None:
    """The cell's environment for the nodes this process starts (``graph.node_environment``)."""
    from binpick.graph import node_environment
    os.environ.update(node_environment())


def node_command(executable: str) -> list[str]:
    """How to start a node of this install (a signal while it is still starting ends it quietly)."""
    from binpick.stopping import node_launcher_code
    return [sys.executable, '-c', node_launcher_code(f'binpick.nodes.{executable}')]


def graph_arguments(args: argparse.Namespace) -> dict[str, str]:
    """Launch arguments from the command line; the simulated cell uses the shipped demo models by default."""
    from binpick import graph
    values = {'use_sim': 'true' if args.sim else 'false'}
    for name, value in (('object_id', args.object), ('segmentation_checkpoint', args.seg_ckpt),
                        ('pose_checkpoint', args.pose_ckpt), ('bank_dir', args.bank), ('model_dir', args.models)):
        if value:
            values[name] = str(Path(value).resolve()) if name != 'object_id' else value
    for name in ('camera', 'color_topic', 'depth_topic', 'camera_info_topic'):
        if getattr(args, name):
            values[name] = getattr(args, name)
    return graph.with_sim_defaults(values, set(values) - {'use_sim'})


def stop_all(procs: dict[str, subprocess.Popen], interrupt_s: float | None = None, terminate_s: float = 2.0) -> None:
    """SIGINT every node (a clean shutdown); a node still running after ``interrupt_s`` (default
    ``graph.STOP_GRACE_S``, as ``ros2 launch`` waits) gets SIGTERM, and SIGKILL after ``terminate_s`` more;
    each escalation names the node."""
    from binpick import graph
    interrupt_s = graph.STOP_GRACE_S if interrupt_s is None else interrupt_s
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for sig, wait_s in ((signal.SIGTERM, interrupt_s), (signal.SIGKILL, terminate_s)):
        end = time.monotonic() + wait_s
        for p in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.0, end - time.monotonic()))
        late = {n: p for n, p in procs.items() if p.poll() is None}
        for name, p in late.items():
            print(f'binpick: node {name} (pid {p.pid}) did not stop after {wait_s:g} s; sending '
                  f'{signal.Signals(sig).name}', file=sys.stderr, flush=True)
            p.send_signal(sig)
    for p in procs.values():
        p.wait()


def start_graph(values: dict[str, str], params_files: list[str], namespace: str | None) -> dict[str, subprocess.Popen]:
    from binpick import graph
    procs = {}
    for spec in graph.nodes(values):
        cmd = node_command(spec.executable) + spec.ros_args()
        for f in params_files:
            cmd += ['--params-file', str(Path(f).resolve())]
        if namespace:
            cmd += ['-r', f'__ns:={namespace}']
        procs[spec.name] = subprocess.Popen(cmd, start_new_session=True)   # Ctrl-C reaches us, we stop them
    return procs


def _cmd_bringup(args: argparse.Namespace) -> int:
    from binpick.stopping import stop_on_signals
    stop = stop_on_signals()   # SIGINT and SIGTERM, also when started as a background job
    if args.sim:
        local_dds_for_sim()
    cell_environment()
    values = graph_arguments(args)
    procs = start_graph(values, args.params_file or [], args.namespace)
    print(f'binpick bringup: {", ".join(f"{n} (pid {p.pid})" for n, p in procs.items())}; Ctrl-C stops the cell',
          flush=True)
    while not stop.wait(0.2):
        dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
        if dead:
            print(f'binpick bringup: node {", ".join(f"{n} exited with {c}" for n, c in dead.items())}; '
                  'stopping the cell', file=sys.stderr, flush=True)
            stop_all(procs)
            return 1
    stop_all(procs)
    print('binpick bringup: stopped', flush=True)
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    from binpick.nodes.bag_recorder import record
    out = Path(args.out)
    if out.exists():
        raise BinpickError(f'{out}: exists; a bag is never overwritten')
    cell_environment()
    frames = record(out, args.duration, args.namespace or '', on_start=lambda text: print(text, flush=True))
    print(f'{out}: {frames} frames', flush=True)
    return 0


def register(sub) -> None:
    p = sub.add_parser('bringup', help='run the cell\'s node graph (config/graph.yaml), one process per node')
    p.add_argument('--sim', action='store_true', help='the simulated cell instead of a stereo camera device')
    p.add_argument('--object', help='catalog name of the part (default: config/graph.yaml)')
    p.add_argument('--seg-ckpt', help='segmentation checkpoint (--sim: default models/demo/)')
    p.add_argument('--pose-ckpt', help='pose checkpoint in service until self-training publishes a better one '
                   '(--sim: default models/demo/)')
    p.add_argument('--bank', help='pseudo-label bank folder')
    p.add_argument('--models', help='folder of the versioned pose models')
    p.add_argument('--params-file', action='append', help='extra ROS 2 parameter file for every node (repeatable)')
    p.add_argument('--namespace', help='ROS namespace of the whole cell')
    p.add_argument('--camera', help='stereo (binpick\'s stereo_camera node, the default), external (a driver of your '
                   'own publishes the streams) or a driver of config/cameras.yaml (realsense, zivid)')
    p.add_argument('--color-topic', help='colour image the nodes read (rgb8, bgr8, rgba8, bgra8)')
    p.add_argument('--depth-topic', help='depth registered to the colour image (16UC1 mm or 32FC1 m)')
    p.add_argument('--camera-info-topic', help='camera info of the colour image')
    p.set_defaults(func=_cmd_bringup)

    p = sub.add_parser('record', help='record the camera topics to a rosbag2 (MCAP) bag')
    p.add_argument('--out', required=True, help='bag folder to create')
    p.add_argument('--duration', type=positive, help='seconds (default: until Ctrl-C)')
    p.add_argument('--namespace', help='ROS namespace of the cell')
    p.set_defaults(func=_cmd_record)
