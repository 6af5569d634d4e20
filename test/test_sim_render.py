"""Rendering one object: the mask matches the analytic silhouette and the depth matches ray casting."""
import zlib

import numpy as np
import pytest

from binpick.catalog import Catalog
from binpick.geometry import axis_angle, make_T, raycasting_scene, transform_points
from binpick.sim.camera import CameraError, PinholeCamera, depth_buffer_to_metres
from binpick.sim.object_renderer import ObjectRenderer
from binpick.sim.silhouette import silhouette

CAMERAS = {
    'default': PinholeCamera.from_params(615.0, 615.0, 319.5, 239.5, 640, 480),
    'off-centre, non-square': PinholeCamera.from_params(700.0, 650.0, 300.0, 260.0, 640, 480),
    'small': PinholeCamera.from_params(300.0, 300.0, 160.0, 110.0, 320, 240),
}


def _raycast_depth(mesh, T, camera, us, vs):
    pts = transform_points(T, mesh.vertices)
    scene = raycasting_scene(pts, mesh.faces)
    dirs = np.stack([(us - camera.K[0, 2]) / camera.K[0, 0], (vs - camera.K[1, 2]) / camera.K[1, 1],
                     np.ones(len(us))], axis=1)
    t = scene.cast_rays(np.concatenate([np.zeros_like(dirs), dirs], axis=1).astype(np.float32))['t_hit'].numpy()
    return t  # z = t because the direction has z = 1


@pytest.mark.parametrize('cam_name', list(CAMERAS))
@pytest.mark.parametrize('obj_name', ['zigzag_bracket', 'spur_gear', 'eye_bolt'])
def test_render_matches_silhouette_and_raycast(obj_name, cam_name):
    camera = CAMERAS[cam_name]
    mesh = Catalog().get(obj_name).mesh
    rng = np.random.default_rng(zlib.crc32(f"{obj_name}|{cam_name}".encode()))
    with ObjectRenderer(mesh) as renderer:
        for _ in range(3):
            z = rng.uniform(0.35, 0.6) * camera.K[0, 0] / 615.0
            T = make_T(axis_angle(rng.normal(size=3), rng.uniform(0, np.pi)),
                       np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.04, 0.04), z]))
            out = renderer.render(T, camera)
            expected = silhouette(mesh.vertices, mesh.faces, T, camera)
            iou = (out.mask & expected).sum() / (out.mask | expected).sum()
            assert iou >= 0.95, f'IoU {iou:.3f}'
            vs, us = np.nonzero(out.mask)
            z_ray = _raycast_depth(mesh, T, camera, us.astype(float), vs.astype(float))
            ok = np.isfinite(z_ray)
            assert ok.mean() > 0.9
            assert np.median(np.abs(out.depth_m[vs, us][ok] - z_ray[ok])) < 0.001
            assert (out.depth_m[~out.mask] == 0).all()


def test_crop_renders_the_same_pixels_as_the_full_image():
    camera = CAMERAS['default']
    mesh = Catalog().get('connector_block').mesh
    T = make_T(axis_angle(np.array([1.0, 0.5, 0.0]), 0.9), np.array([0.01, 0.02, 0.45]))
    with ObjectRenderer(mesh) as renderer:
        full = renderer.render(T, camera)
        vs, us = np.nonzero(full.mask)
        x0, y0 = int(us.mean()) - 64, int(vs.mean()) - 64
        crop = renderer.render(T, camera.crop(x0, y0, 128, 128))
    window = full.mask[y0:y0 + 128, x0:x0 + 128]
    assert crop.mask.shape == (128, 128)
    assert (crop.mask ^ window).sum() <= 0.02 * window.sum()


def test_k_inconsistent_with_image_size_is_refused():
    with pytest.raises(CameraError, match='does not match the image size'):
        PinholeCamera.from_params(600.0, 600.0, 640.0, 360.0, 640, 480)   # K of a 1280x720 image
    with pytest.raises(CameraError, match='focal lengths'):
        PinholeCamera.from_params(-1.0, 600.0, 320.0, 240.0, 640, 480)


def test_depth_buffer_conversion():
    near, far = 0.1, 4.0
    z = np.array([0.1, 0.5, 2.0])
    buffer = (far - far * near / z) / (far - near)
    assert np.allclose(depth_buffer_to_metres(buffer, near, far), z, rtol=1e-5)
    assert depth_buffer_to_metres(np.array([1.0]), near, far)[0] == 0.0
