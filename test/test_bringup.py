"""The node graph is defined once (config/graph.yaml): `binpick bringup` runs it, one process per node, and
the launch file builds the same nodes; bringup stops cleanly on Ctrl-C and fails when a node dies."""
import ast
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import kill_tree

from binpick import graph
from binpick.config import config_dir
from binpick.data.errors import DataFormatError

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / 'launch' / 'bringup.launch.py'


def entry_points() -> set[str]:
    tree = ast.parse((ROOT / 'src' / 'binpick' / 'setup.py').read_text())
    scripts = next(n for n in ast.walk(tree) if isinstance(n, ast.Dict) and any(
        isinstance(k, ast.Constant) and k.value == 'console_scripts' for k in n.keys))
    return {s.value.split('=')[0].strip() for s in scripts.values[0].elts}


def test_graph_names_nodes_parameter_files_and_executables(tmp_path):
    sim = {s.name: s for s in graph.nodes({'use_sim': 'true'})}
    real = {s.name: s for s in graph.nodes({'use_sim': 'false'})}
    assert set(sim) == {'sim_cell', 'stereo_camera', 'segmentation', 'pose_estimation', 'pseudo_label_recorder',
                        'retrainer', 'grasp_planner'}
    assert sim['grasp_planner'].parameters['execute'] == 'ros2_control'
    assert real['grasp_planner'].parameters['execute'] == 'none'
    assert set(real) == set(sim) - {'sim_cell'}
    assert sim['stereo_camera'].parameters['source'] == 'sim' and real['stereo_camera'].parameters['source'] == 'device'
    assert {s.executable for s in sim.values()} <= entry_points()
    assert all(f.is_file() and f.parent == config_dir() for s in sim.values() for f in s.parameter_files)
    (tmp_path / 'p.pt').write_bytes(b'')
    spec = graph.nodes({'use_sim': 'true', 'pose_checkpoint': str(tmp_path / 'p.pt'), 'bank_dir': '~/bank'})
    pose = next(s for s in spec if s.name == 'pose_estimation')
    assert pose.parameters['pose_checkpoint'] == str(tmp_path / 'p.pt')
    assert next(s for s in spec if s.name == 'retrainer').parameters['bank_dir'] == os.path.expanduser('~/bank')
    assert pose.ros_args()[:3] == ['--ros-args', '-r', '__node:=pose_estimation']
    with pytest.raises(DataFormatError, match='unknown argument'):
        graph.nodes({'use_simm': 'true'})
    with pytest.raises(DataFormatError, match='nope.pt: segmentation_checkpoint: file does not exist'):
        graph.nodes({'segmentation_checkpoint': str(tmp_path / 'nope.pt')})


def test_a_camera_driver_of_the_users_own_replaces_the_stereo_camera():
    stereo = {s.name: s for s in graph.nodes({})}
    assert all(s.remappings == {} for s in stereo.values())
    realsense = {s.name: s for s in graph.nodes({'camera': 'realsense'})}
    assert 'stereo_camera' not in realsense and set(realsense) == set(stereo) - {'stereo_camera'}
    pose = realsense['pose_estimation']
    assert pose.remappings == {'camera/color/image_raw': '/camera/camera/color/image_raw',
                               'camera/depth/image_rect': '/camera/camera/aligned_depth_to_color/image_raw',
                               'camera/color/camera_info': '/camera/camera/color/camera_info'}
    assert '-r' in pose.ros_args() and 'camera/depth/image_rect:=/camera/camera/aligned_depth_to_color/image_raw' \
        in pose.ros_args()
    # an explicit topic wins over the driver's; external starts no camera and remaps only what is given
    zivid = graph.nodes({'camera': 'zivid', 'depth_topic': '/my/depth'})[0]
    assert zivid.remappings['camera/depth/image_rect'] == '/my/depth'
    assert zivid.remappings['camera/color/image_raw'] == '/color/image_color'
    external = {s.name: s for s in graph.nodes({'camera': 'external', 'color_topic': 'rgb'})}
    assert 'stereo_camera' not in external and external['segmentation'].remappings == {'camera/color/image_raw': 'rgb'}
    with pytest.raises(DataFormatError, match="arguments.camera: 'kinect'; expected stereo, external or"):
        graph.nodes({'camera': 'kinect'})


def test_node_environment_keeps_the_users_settings(monkeypatch):
    monkeypatch.delenv('MALLOC_ARENA_MAX', raising=False)
    monkeypatch.delenv('FASTRTPS_DEFAULT_PROFILES_FILE', raising=False)
    env = graph.node_environment()
    assert env['MALLOC_ARENA_MAX'] == '2' and Path(env['FASTRTPS_DEFAULT_PROFILES_FILE']).is_file()
    monkeypatch.setenv('MALLOC_ARENA_MAX', '8')
    monkeypatch.setenv('FASTRTPS_DEFAULT_PROFILES_FILE', '/etc/my_profile.xml')
    assert graph.node_environment() == {}


def test_launch_file_reads_the_same_definition(monkeypatch):
    source = LAUNCH.read_text()
    assert 'graph.nodes(' in source and 'graph.default_arguments()' in source
    if importlib.util.find_spec('launch_ros') is None:
        pytest.skip('launch_ros is not installed here (ROS 2 Jazzy install only); the launch file was checked as text')
    from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable

    from launch import LaunchContext
    spec = importlib.util.spec_from_file_location('bringup_launch', LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    expected = graph.node_environment()
    for name in expected:
        monkeypatch.delenv(name, raising=False)   # launch sets it in this process; undone after the test
    context = LaunchContext()
    for action in description.entities:
        action.visit(context)
    names = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert set(graph.default_arguments()) <= names
    # the nodes get the cell's environment, as with binpick bringup
    assert sum(isinstance(e, SetEnvironmentVariable) for e in description.entities) == len(expected)
    assert {name: os.environ.get(name) for name in expected} == expected


def _bringup(args, tmp_path, **kwargs):
    env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
    return subprocess.Popen([sys.executable, '-m', 'binpick.cli', 'bringup', *args], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


@pytest.mark.slow
def test_bringup_fails_when_a_node_dies(tmp_path):
    params = tmp_path / 'p.yaml'
    params.write_text('/**/stereo_camera:\n  ros__parameters:\n    left_device: /nonexistent/video9\n')
    proc = _bringup(['--params-file', str(params), '--bank', str(tmp_path / 'bank'), '--models',
                     str(tmp_path / 'models'), '--namespace', f'/b{os.getpid()}'], tmp_path)
    try:
        out, _ = proc.communicate(timeout=180)
    finally:
        kill_tree(proc)
    assert proc.returncode == 1, out
    assert 'node stereo_camera exited' in out or 'exited with' in out
    assert "cannot open capture device '/nonexistent/video9'" in out


@pytest.mark.slow
@pytest.mark.ros
def test_bringup_sim_runs_the_graph_and_stops_on_ctrl_c(tmp_path, cell_models):
    import psutil
    import rclpy
    from test_cell_dds import params_file, wait_for

    from binpick.nodes import base
    from binpick_interfaces.msg import ObjectPoseArray
    models = cell_models
    ns = f'/bu{os.getpid()}'
    proc = _bringup(['--sim', '--params-file', str(params_file(tmp_path, models)), '--namespace', ns], tmp_path)
    rclpy.init()
    node = rclpy.create_node('probe', namespace=ns)
    got = []
    node.create_subscription(ObjectPoseArray, base.POSES, got.append, base.SENSOR_QOS)
    try:
        end = time.monotonic() + 150
        while not got and time.monotonic() < end and proc.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.2)
        assert got, 'no poses from the graph started by binpick bringup --sim'
        assert wait_for(lambda: (tmp_path / 'bank' / 'bank.json').is_file(), 30)
        # config/nodes.yaml: the recorder's frame worker yields the cores to the perception path; its other
        # threads (messages, stopping) and every other node keep the normal priority
        own = os.nice(0)
        assert _node_nice(proc.pid, ('segmentation', 'pose_estimation', 'pseudo_label_recorder', 'retrainer')) == {
            'segmentation': {own}, 'pose_estimation': {own}, 'pseudo_label_recorder': {own, own + 10},
            'retrainer': {own}}
        # every node with the cell's environment (graph.node_environment)
        arenas = os.environ.get('MALLOC_ARENA_MAX', '2')
        assert {c.environ().get('MALLOC_ARENA_MAX') for c in psutil.Process(proc.pid).children()} == {arenas}
    finally:
        node.destroy_node()
        rclpy.shutdown()
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        finally:
            kill_tree(proc)
    assert proc.returncode == 0, out
    assert 'binpick bringup: stopped' in out


def _node_nice(pid: int, names: tuple[str, ...]) -> dict[str, set[int]]:
    """The nice values of the threads of each named node process started by ``pid`` (Linux: one per thread)."""
    import psutil
    nice = {}
    for child in psutil.Process(pid).children():
        cmd = ' '.join(child.cmdline())
        threads = {os.getpriority(os.PRIO_PROCESS, t.id) for t in child.threads()}
        nice.update({n: threads for n in names if f'binpick.nodes.{n}' in cmd})
    return nice


def _cpu_hog():
    """One busy process per core, as another job on the machine would be."""
    code = 'import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end: pass'
    return [subprocess.Popen([sys.executable, '-c', code]) for _ in range(os.cpu_count() or 2)]


@pytest.mark.slow
@pytest.mark.ros
@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_bringup_started_in_the_background_stops_under_load(tmp_path, cell_models, sig):
    """`binpick bringup &` in a script inherits SIGINT ignored; it still stops every node within 10 s of
    SIGINT or SIGTERM, with both cores busy."""
    import psutil
    from test_cell_dds import params_file
    ns = f'/bg{os.getpid()}{sig}'
    ignore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731 - what `cmd &` does
    proc = _bringup(['--sim', '--params-file', str(params_file(tmp_path, cell_models)), '--namespace', ns], tmp_path,
                    preexec_fn=ignore_sigint)
    hogs = _cpu_hog()
    try:
        end = time.monotonic() + 60
        expected = len(graph.nodes({'use_sim': 'true'}))
        while time.monotonic() < end and len(psutil.Process(proc.pid).children()) < expected:
            time.sleep(0.5)
        nodes = psutil.Process(proc.pid).children()
        assert len(nodes) == expected
        time.sleep(20)   # the nodes get going (imports, models) under load
        t0 = time.monotonic()
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        for p in hogs:
            p.kill()
            p.wait()
        kill_tree(proc)
    assert took < 10.0, (took, out)
    assert proc.returncode == 0, out
    assert 'binpick bringup: stopped' in out
    assert not [n for n in nodes if n.is_running() and n.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow
@pytest.mark.ros
@pytest.mark.parametrize('victim', ['pose_estimation', 'pseudo_label_recorder', 'retrainer'])
def test_a_node_killed_with_sigkill_is_named_and_the_rest_stop(tmp_path, cell_models, victim):
    """kill -9 of a node of the running cell (the pose node, and the two that write data): bringup names it,
    stops the others, exits 1; what the cell stored (the bank, the model registry) stays readable."""
    import re

    import psutil
    from conftest import CELL_OBJECT
    from test_cell_dds import params_file, wait_for

    from binpick.data.bank import PseudoLabelBank
    from binpick.perception.model_registry import ModelRegistry
    proc = _bringup(['--sim', '--params-file', str(params_file(tmp_path, cell_models)), '--namespace',
                     f'/k{os.getpid()}'], tmp_path)
    try:
        started = proc.stdout.readline()
        pids = {name: int(pid) for name, pid in re.findall(r'(\w+) \(pid (\d+)\)', started)}
        assert 'pose_estimation' in pids and len(pids) == len(graph.nodes({'use_sim': 'true'})), started
        banked = lambda: (tmp_path / 'bank' / 'bank.json').is_file() and PseudoLabelBank(  # noqa: E731
            tmp_path / 'bank', CELL_OBJECT).frame_ids()
        assert wait_for(banked, 150), 'the cell banked nothing'
        os.kill(pids[victim], signal.SIGKILL)
        t0 = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        kill_tree(proc)
    assert proc.returncode == 1, out
    assert f'{victim} exited with -9' in out and took < 15.0, (took, out)
    assert not [p for p in pids.values() if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert PseudoLabelBank(tmp_path / 'bank', CELL_OBJECT).frame_ids()       # banked frames survive
    assert ModelRegistry(tmp_path / 'models', cell_models['pose']).current().version == 0
