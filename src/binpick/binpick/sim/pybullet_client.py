"""A private pybullet DIRECT client (no display, no GPU) owned by one object, closed with it."""
from __future__ import annotations

import pybullet as pb


class PybulletClient:
    """Base of the classes that own a pybullet client; use as a context manager or call close()."""

    def __init__(self) -> None:
        self.client = pb.connect(pb.DIRECT)

    def mesh_visual(self, mesh, rgba=(0.7, 0.7, 0.72, 1.0)) -> int:
        """Visual shape of a trimesh (metres) with smooth vertex normals; returns its id."""
        return pb.createVisualShape(pb.GEOM_MESH, vertices=mesh.vertices.tolist(),
                                    indices=mesh.faces.reshape(-1).tolist(),
                                    normals=mesh.vertex_normals.tolist(), rgbaColor=list(rgba),
                                    physicsClientId=self.client)

    def close(self) -> None:
        if self.client is not None and pb.isConnected(self.client):
            pb.disconnect(self.client)
        self.client = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
