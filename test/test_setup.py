"""The installed workspace: the venv imports ROS 2 and the interfaces with nothing sourced."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'scripts'))
import fix_ros_cmake  # noqa: E402

CLEAN_ENV = {'PATH': '/usr/bin:/bin', 'HOME': os.environ.get('HOME', '/root'),
             'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}


def test_fix_ros_cmake_rewrites_wheel_include_paths(tmp_path):
    export = tmp_path / 'share' / 'std_msgs' / 'cmake' / 'export_std_msgsExport.cmake'
    export.parent.mkdir(parents=True)
    export.write_text(f'INTERFACE_INCLUDE_DIRECTORIES "{fix_ros_cmake.WHEEL_PYTHON_INCLUDE};'
                      f'{fix_ros_cmake.WHEEL_NUMPY_INCLUDE}"\n')
    assert fix_ros_cmake.fix(tmp_path) == 1
    text = export.read_text()
    assert '/opt/python' not in text and 'numpy' in text
    assert fix_ros_cmake.fix(tmp_path) == 0     # idempotent


def test_venv_exports_have_no_wheel_builder_paths():
    exports = list(Path(sys.prefix).glob('share/*/cmake/*Export.cmake'))
    assert exports, 'no ROS CMake exports in this interpreter prefix: run make setup'
    assert not [p for p in exports if '/opt/python/' in p.read_text()]


def test_fresh_interpreter_imports_rclpy_and_interfaces_without_sourcing():
    code = ('import rclpy, binpick_interfaces.msg, binpick_interfaces.srv, binpick_interfaces.action, binpick;'
            'print(binpick_interfaces.msg.ObjectPose().__class__.__name__)')
    out = subprocess.run([sys.executable, '-c', code], env=CLEAN_ENV, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'ObjectPose'


def test_binpick_command_is_on_the_venv_path():
    exe = Path(sys.prefix) / 'bin' / 'binpick'
    if not exe.exists():
        pytest.skip('binpick is not installed in this interpreter prefix')
    out = subprocess.run([str(exe), '--version'], env=CLEAN_ENV, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith('binpick ')


def test_node_executables_start_nothing_when_imported_by_a_spawned_child():
    """multiprocessing's spawn imports the parent's script as ``__mp_main__``: the retrainer's job process
    must not start a second retrainer (it did, and the job never reported back)."""
    from binpick.stopping import node_launcher_code
    script = Path(sys.prefix, 'lib', 'binpick', 'retrainer')
    assert script.read_text().endswith(node_launcher_code('binpick.nodes.retrainer'))
    code = node_launcher_code('binpick.nodes.retrainer')
    names = {'__name__': '__mp_main__'}
    exec(compile(code, str(script), 'exec'), names)     # would raise SystemExit after running the node
    assert 'main' not in names
