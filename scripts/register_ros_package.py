"""Register the editable binpick install as a ROS 2 package in a prefix (the venv), as colcon would.

    python scripts/register_ros_package.py PREFIX

Writes, under PREFIX:
    share/ament_index/resource_index/packages/binpick   the ament index marker (`ros2 pkg prefix binpick`)
    share/binpick/package.xml, launch/*.launch.py, config/*.{yaml,xml}   links to the checkout's files
    lib/binpick/<node>                                   one launcher per node (`ros2 run`, launch_ros)
    lib/python3.X/site-packages/binpick_ament_prefix.pth  adds PREFIX to AMENT_PREFIX_PATH in the venv's
                                                         Python processes (`ros2 ...` needs no sourcing)

The links (one per file: `ros2 launch` does not follow linked folders) point into this checkout, so
edits to launch and parameter files need no re-run; a new file needs one (`make setup` does it). Inside a
colcon workspace the same layout comes from src/binpick/setup.py's data_files instead.
"""
from __future__ import annotations

import os
import sys
import sysconfig
from importlib.metadata import distribution
from pathlib import Path

from binpick.stopping import node_launcher_code

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


PTH = ('import os, sys; _p = [d for d in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if d]; '
       'sys.prefix in _p or os.environ.__setitem__("AMENT_PREFIX_PATH", os.pathsep.join(_p + [sys.prefix]))\n')


def register(prefix: Path) -> None:
    share = prefix / 'share'
    marker = share / 'ament_index' / 'resource_index' / 'packages' / PACKAGE
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    _link(ROOT / 'src' / PACKAGE / 'package.xml', share / PACKAGE / 'package.xml')
    for folder, pattern in (('launch', '*.launch.py'), ('config', '*.yaml'), ('config', '*.xml'), ('config', '*.rviz')):
        target = share / PACKAGE / folder
        if target.is_symlink():   # a folder link (earlier versions): `ros2 launch` does not follow those
            target.unlink()
        for f in sorted((ROOT / folder).glob(pattern)):
            _link(f, target / f.name)
    python = prefix / 'bin' / 'python'
    site = Path(sysconfig.get_path('purelib', vars={'base': str(prefix)}))
    _write_executable(site / 'binpick_ament_prefix.pth', PTH)
    for name, value in node_entry_points().items():
        module, function = value.split(':')
        _write_executable(prefix / 'lib' / PACKAGE / name, f'#!{python}\n' + node_launcher_code(module, function))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    register(Path(sys.argv[1]).resolve())
