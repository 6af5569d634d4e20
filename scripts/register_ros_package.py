"""Register the editable binpick install as a ROS 2 package in a prefix (the venv), as colcon would.

    python scripts/register_ros_package.py PREFIX

Writes, under PREFIX:
    share/ament_index/resource_index/packages/binpick   the ament index marker (`ros2 pkg prefix binpick`)
    share/binpick/package.xml, share/binpick/launch, share/binpick/config   links to the checkout's files
    lib/binpick/<node>                                   one launcher per node (`ros2 run`, launch_ros)

The links point into this checkout, so edits to launch and parameter files need no re-run. Inside a
colcon workspace the same layout comes from src/binpick/setup.py's data_files instead.
"""
from __future__ import annotations

import os
import sys
from importlib.metadata import distribution
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = 'binpick'


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.is_file():
        link.unlink()
    tmp = link.with_name(f'.{link.name}.tmp-{os.getpid()}')
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _write_executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, path)


def node_entry_points() -> dict[str, str]:
    """name -> 'module:function' of every console script of binpick except the ``binpick`` command."""
    return {ep.name: ep.value for ep in distribution(PACKAGE).entry_points
            if ep.group == 'console_scripts' and ep.name != PACKAGE}


def register(prefix: Path) -> None:
    share = prefix / 'share'
    marker = share / 'ament_index' / 'resource_index' / 'packages' / PACKAGE
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    _link(ROOT / 'src' / PACKAGE / 'package.xml', share / PACKAGE / 'package.xml')
    _link(ROOT / 'launch', share / PACKAGE / 'launch')
    _link(ROOT / 'config', share / PACKAGE / 'config')
    python = prefix / 'bin' / 'python'
    for name, value in node_entry_points().items():
        module, function = value.split(':')
        _write_executable(prefix / 'lib' / PACKAGE / name,
                          f'#!{python}\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n')


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    register(Path(sys.argv[1]).resolve())
