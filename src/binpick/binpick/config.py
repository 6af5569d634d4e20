"""Parameter files in ``config/`` (ROS 2 parameter YAML), readable without ROS.

The files are found in ``$BINPICK_CONFIG_DIR``, else the repository's ``config/`` (source and
editable installs), else ``<prefix>/share/binpick/config`` (colcon and wheel installs).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from binpick.data.errors import DataFormatError
from binpick.data.jsonfields import load_yaml


def config_dir() -> Path:
    """Folder of the parameter files."""
    env = os.environ.get('BINPICK_CONFIG_DIR')
    if env:
        return Path(env)
    return source_or_share('config')


def source_or_share(name: str) -> Path:
    """``name`` (a folder of this repository: config, models/demo) in the checkout binpick runs from, or
    where setup.py installed it: PREFIX/share/binpick/ of a colcon or pip install (PREFIX/lib/pythonX.Y/
    site-packages/binpick/ is this package), or of the Python prefix."""
    here = Path(__file__).resolve()
    candidates = [here.parents[3] / name, here.parents[4] / 'share' / 'binpick' / name,
                  Path(sys.prefix) / 'share' / 'binpick' / name]
    return next((p for p in candidates if p.is_dir()), candidates[0])


def load_params(name_or_path: str | Path) -> dict[str, Any]:
    """The ``ros__parameters`` of a parameter file (``/**`` or the first node entry).

    Args:
        name_or_path: a file path, or a name like ``camera`` for ``config_dir()/camera.yaml``.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = config_dir() / f'{name_or_path}.yaml'
    doc = load_yaml(path)
    if not isinstance(doc, dict) or not doc:
        raise DataFormatError(path, '', 'expected "<node or /**>: ros__parameters: {...}"')
    node = doc.get('/**', next(iter(doc.values())))
    if not isinstance(node, dict) or 'ros__parameters' not in node:
        raise DataFormatError(path, next(iter(doc)), "missing field 'ros__parameters'")
    return dict(node['ros__parameters'])
