"""The house rule of DESIGN.md: only ``binpick/nodes/`` touches ROS; every other package is ROS-free."""
from __future__ import annotations

import ast
from pathlib import Path

import binpick

PACKAGE = Path(binpick.__file__).parent
ROS_MODULES = ('rclpy', 'rosidl', 'rosbag2_py', 'moveit', 'launch', 'launch_ros', 'tf2_ros', 'builtin_interfaces')


def ros_imports(path: Path) -> list[str]:
    """The ROS modules a Python file imports (anywhere in it, lazily or not)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
        for name in names:
            top = name.split('.')[0]
            if top in ROS_MODULES or top.endswith('_msgs') or top.endswith('_srvs'):
                found.append(name)
    return found


def test_ros_imports_are_found_also_when_lazy(tmp_path):
    source = tmp_path / 'mod.py'
    source.write_text('import numpy\n\ndef f():\n    from geometry_msgs.msg import Pose\n    import rclpy\n')
    assert ros_imports(source) == ['geometry_msgs.msg', 'rclpy']


def test_only_the_nodes_package_imports_ros():
    offenders = {str(path.relative_to(PACKAGE)): ros_imports(path)
                 for path in sorted(PACKAGE.rglob('*.py')) if path.relative_to(PACKAGE).parts[0] != 'nodes'}
    assert {name: mods for name, mods in offenders.items() if mods} == {}
