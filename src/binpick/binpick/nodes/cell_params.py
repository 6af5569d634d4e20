"""The cell's parameters (``config/camera.yaml`` and ``config/cell.yaml``) declared on a node, with the
files' values as defaults, so a node started without parameter files behaves like the shipped cell."""
from __future__ import annotations

from binpick.config import load_params
from binpick.sim.generator import CellConfig


def declare_cell(node) -> dict:
    """Declare every camera and cell parameter on ``node``; returns their values."""
    defaults = {**load_params('camera'), **load_params('cell')}
    return {name: node.param(name, value) for name, value in defaults.items()}


def cell_config(node) -> CellConfig:
    return CellConfig.from_params(declare_cell(node))
