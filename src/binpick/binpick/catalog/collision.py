"""Collision models for physics: approximate convex decomposition (V-HACD, as shipped in pybullet)."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import trimesh

from binpick.data import atomic


@contextlib.contextmanager
def _quiet_stdout():
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def convex_decomposition(mesh_m: trimesh.Trimesh, out_path: str | Path, resolution: int = 200_000) -> Path:
    """Write the V-HACD decomposition of ``mesh_m`` (metres) as a multi-object OBJ, atomically.

    Concave parts (rings, gears, brackets) need it: pybullet collides a single mesh as its convex hull.
    """
    import pybullet as pb  # imported here: it prints a banner, and listing the catalog needs no physics

    out_path = Path(out_path)
    client = pb.connect(pb.DIRECT)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = os.path.join(tmp, 'in.obj'), os.path.join(tmp, 'out.obj')
            mesh_m.export(src)
            with _quiet_stdout():  # V-HACD prints its progress to the C stdout
                pb.vhacd(src, dst, os.path.join(tmp, 'vhacd.log'), resolution=resolution,
                         maxNumVerticesPerCH=64, concavity=0.0025, physicsClientId=client)
            atomic.write_bytes(out_path, Path(dst).read_bytes())
    finally:
        pb.disconnect(client)
    return out_path
