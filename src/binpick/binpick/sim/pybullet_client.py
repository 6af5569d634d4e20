"""A private pybullet DIRECT client (no display, no GPU) owned by one object, closed with it."""
from __future__ import annotations

import pybullet as pb


class PybulletClient:
    """Base of the classes that own a pybullet client; use as a context manager or call close()."""

    def __init__(self) -> None:
        self.client = pb.connect(pb.DIRECT)

    def mesh_visual(self, mesh, rgba=(0.7, 0.7, 0.72, 1.0)) -> int:
        """Visual shape of a trimesh (metres); sharp edges (> 20 deg) stay sharp; returns its id."""
        mesh = mesh.smooth_shaded  # splits vertices at creases so flat faces shade flat
        return pb.createVisualShape(pb.GEOM_MESH, vertices=mesh.vertices.tolist(),
                                    indices=mesh.faces.reshape(-1).tolist(),
                                    normals=mesh.vertex_normals.tolist(), rgbaColor=list(rgba),
                                    physicsClientId=self.client)

    def load_texture(self, image_rgb) -> int:
        """Load an HxWx3 uint8 RGB image as a texture of this client; returns its id."""
        import os
        import tempfile

        import cv2
        fd, path = tempfile.mkstemp(suffix='.png')
        os.close(fd)
        try:
            cv2.imwrite(path, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
            return pb.loadTexture(path, physicsClientId=self.client)
        finally:
            os.unlink(path)

    def close(self) -> None:
        if self.client is not None and pb.isConnected(self.client):
            pb.disconnect(self.client)
        self.client = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
