"""The layers of docs/architecture.md: only ``binpick/nodes/`` touches ROS, and the parts of the package
import each other only as its allowed-imports table says."""
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


# What each part of the package may import from the others: docs/architecture.md, "Allowed imports".
# Edges marked debt there are allowed until they are removed; anything else fails here.
ALLOWED = {
    'errors': set(), 'geometry': set(), 'stopping': set(),
    'config': {'data'},
    'data': {'errors', 'geometry'},
    'catalog': {'data', 'errors', 'geometry', 'grasp', 'sim'},
    'perception': {'catalog', 'data', 'errors', 'geometry'},
    'sim': {'catalog', 'config', 'data', 'errors', 'evaluation', 'geometry', 'grasp', 'modelfree', 'perception'},
    'evaluation': {'catalog', 'data', 'geometry', 'grasp', 'modelfree', 'perception', 'selftrain', 'sim'},
    'selftrain': {'catalog', 'data', 'errors', 'evaluation', 'geometry', 'perception', 'sim'},
    'grasp': {'catalog', 'data', 'errors', 'geometry', 'selftrain'},
    'modelfree': {'catalog', 'data', 'errors', 'evaluation', 'geometry', 'grasp', 'perception', 'sim'},
    'demo_models': {'config', 'modelfree', 'perception'},
    'graph': {'config', 'data', 'demo_models'},
    'nodes': {'catalog', 'config', 'data', 'errors', 'geometry', 'grasp', 'perception', 'selftrain', 'sim',
              'stopping'},
    'commands': {'catalog', 'config', 'data', 'demo_models', 'errors', 'evaluation', 'graph', 'modelfree', 'nodes',
                 'perception', 'selftrain', 'sim', 'stopping'},
    'cli': {'commands', 'errors'},
}


def binpick_imports(path: Path) -> set[str]:
    """The parts of binpick (``binpick.X...`` -> X) a Python file imports, lazily or not."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
        found |= {name.split('.')[1] for name in names if name.startswith('binpick.')}
    return found


def test_every_import_between_parts_is_in_the_allowed_table():
    offenders = []
    for path in sorted(PACKAGE.rglob('*.py')):
        rel = path.relative_to(PACKAGE)
        part = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if part == '__init__':
            continue
        assert part in ALLOWED, f'{rel}: a new part of the package; add it to ALLOWED and docs/architecture.md'
        offenders += [f'{rel} imports binpick.{t}' for t in sorted(binpick_imports(path) - ALLOWED[part] - {part})]
    assert offenders == []
