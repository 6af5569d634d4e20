"""Repair the include paths that the ROS 2 Jazzy pip wheels export to CMake.

The wheels were built under ``/opt/python/cp311-cp311``; their exported CMake targets still name
that prefix's Python and NumPy include directories, which do not exist on a user's machine, so
``colcon build`` of any interface package fails. This rewrites those paths, inside the virtual
environment only, to this interpreter's real include directories. Idempotent.
"""
from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import numpy

WHEEL_PYTHON_INCLUDE = '/opt/python/cp311-cp311/include/python3.11'
WHEEL_NUMPY_INCLUDE = '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include'


def fix(prefix: Path) -> int:
    """Rewrite the wheel builder's include paths under ``prefix/share/*/cmake``; return files changed."""
    replacements = {
        WHEEL_PYTHON_INCLUDE: sysconfig.get_paths()['include'],
        WHEEL_NUMPY_INCLUDE: numpy.get_include(),
    }
    changed = 0
    for path in sorted(prefix.glob('share/*/cmake/*Export.cmake')):
        text = path.read_text()
        fixed = text
        for old, new in replacements.items():
            fixed = fixed.replace(old, new)
        if fixed != text:
            tmp = path.with_suffix('.cmake.tmp')
            tmp.write_text(fixed)
            tmp.replace(path)
            changed += 1
    return changed


if __name__ == '__main__':
    count = fix(Path(sys.prefix))
    print(f'fix_ros_cmake: rewrote include paths in {count} CMake export file(s) under {sys.prefix}')
