"""Physically based stereo frames of a bin, path-traced by Blender Cycles on the CPU (``bpy``).

The ``real_pbr`` domain's camera images. The scene is the rasterizer's (same tote boxes, same part
mesh, same poses, same pinhole intrinsics), so ground truth still comes from the rasterizer and agrees
with these images to the pixel (``test_sim_pbr.py``). What Cycles adds, each the look of a real cell:

- parts of turned steel: a metallic principled BSDF whose roughness varies from part to part
  (``part_roughness`` ± ``roughness_spread``) and along each part (oil, machining marks); metal mirrors
  the tote and its neighbours (interreflections, up to ``glossy_bounces``);
- a grey polypropylene tote with a worn (bump-mapped) surface, and a wooden-looking table;
- soft light from a ceiling area lamp (``area_size_m``) and dim ambient from the hall;
- an active-stereo random-dot projector between the two lenses (a spot light whose emission is a
  pattern of dots, the way Ensenso and RealSense D4xx cameras texture what they see); the pattern is
  fixed to the camera rig, so both views see the same dots, but a dot mirrored by metal lands in
  different places in the two views, which is where a real active-stereo camera measures wrong depth;
- an 8-bit sensor with a linear response that clips: highlights saturate (``exposure``);
- the shop floor on the parts: a film of anti-corrosion oil over part of each part (``oil_coverage``),
  glossier than the bare steel and iridescent where it is thin (a thin-film coat of ``oil_film_nm``,
  refractive index ``oil_ior``), and dust (``dust_coverage``), a matte grey layer that settles on the
  faces that point up; both in patches that differ from part to part.

``bpy`` is imported only when a renderer is made, so every other domain works without it.
"""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import norm

from binpick.catalog.catalog import CatalogObject
from binpick.errors import BinpickError
from binpick.sim.bin_physics import BinSpec
from binpick.sim.camera import PinholeCamera

BPY_VERSION = '5.0.1'   # what requirements/render.txt installs (Blender as a Python module)


@contextmanager
def _quiet(fd: int):
    """Silence the file descriptor ``fd`` (Blender's C code prints a line per render tile to 1, and
    its numpy-1 builds of USD and OpenImageIO print an import traceback to 2 that nothing here needs)."""
    (sys.stdout if fd == 1 else sys.stderr).flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


class RenderError(BinpickError):
    """The physically based renderer is missing or could not render a frame."""


def import_bpy():
    """The ``bpy`` module, or a RenderError that says how to install it."""
    try:
        with _quiet(1), _quiet(2):   # 'Unable to initialise audio' and the numpy-1 traceback
            import bpy
    except ImportError as e:
        raise RenderError(f'the real_pbr domain renders with Blender Cycles, and bpy is not importable ({e}); '
                          f'install it with `make setup` or `pip install --no-deps bpy=={BPY_VERSION}`') from None
    return bpy


@dataclass(frozen=True)
class PbrSettings:
    """Render settings and the physical constants of the emulated cell (metres, watts, linear RGB)."""

    samples: int = 16              # paths per pixel, before denoising
    max_bounces: int = 6
    glossy_bounces: int = 4        # metal mirroring metal
    diffuse_bounces: int = 2
    denoise: bool = True           # OpenImageDenoise
    threads: int = 0               # 0: every core
    part_rgb: tuple = (0.62, 0.62, 0.60)     # steel's specular colour
    part_roughness: float = 0.28   # turned steel; brushed is 0.35-0.5, polished 0.1
    roughness_spread: float = 0.08
    tote_rgb: tuple = (0.16, 0.16, 0.17)
    tote_roughness: float = 0.55
    table_rgb: tuple = (0.30, 0.25, 0.19)
    area_power_w: float = 16.0
    area_size_m: float = 0.6
    area_height_m: float = 1.3
    ambient: float = 0.15          # world background strength
    projector_power_w: float = 4.0
    projector_dots: float = 90.0   # dot cells per unit of tan(angle)
    projector_dot_radius: float = 0.3   # share of a cell a dot covers
    exposure: float = 0.0          # stops
    oil_coverage: float = 0.5      # share of each part under a film of anti-corrosion oil
    oil_film_nm: float = 800.0     # film thickness: faint thin-film interference colours
    oil_ior: float = 1.47          # mineral oil
    oil_roughness: float = 0.06    # a wet film is glossier than the steel beneath
    dust_coverage: float = 0.3     # share of the up-facing surface under dust
    dust_rgb: tuple = (0.42, 0.40, 0.37)


def _blender_matrix(T: np.ndarray):
    from mathutils import Matrix
    return Matrix([list(map(float, row)) for row in T])


# OpenCV camera frame (z forward, y down) -> Blender camera frame (looks down -z, y up)
T_CV_BLENDER = np.diag([1.0, -1.0, -1.0, 1.0])


class CyclesSceneRenderer:
    """A Blender scene of one catalog object in a tote; one per process (bpy holds one scene).

    Args:
        obj: the part; its mesh is shared by every instance.
        bin_spec: the tote (the rasterizer's boxes).
        settings: render settings and materials.
    Raises:
        RenderError: bpy is missing or the part's mesh cannot be loaded.
    """

    def __init__(self, obj: CatalogObject, bin_spec: BinSpec = BinSpec(),
                 settings: PbrSettings = PbrSettings()) -> None:
        self.bpy = import_bpy()
        self.obj, self.bin, self.settings = obj, bin_spec, settings
        self._tmp = tempfile.TemporaryDirectory(prefix='binpick-cycles-')
        bpy = self.bpy
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = bpy.context.scene
        self._configure()
        self._part_mesh = self._mesh_from(obj)
        self._part_material = self._steel()
        self._part_mesh.materials.append(self._part_material)
        self._parts: list = []
        self._build_static()
        self._camera = self._new_object('camera', bpy.data.cameras.new('camera'))
        self.scene.camera = self._camera
        self._area = self._new_object('ceiling_lamp', bpy.data.lights.new('ceiling_lamp', 'AREA'))
        self._area.data.energy, self._area.data.size = settings.area_power_w, settings.area_size_m
        self._projector = self._new_object('projector', self._dot_projector())

    # -- scene -------------------------------------------------------------------------------------

    def _configure(self) -> None:
        s, sc = self.settings, self.scene
        sc.render.engine = 'CYCLES'
        sc.cycles.device = 'CPU'
        sc.cycles.samples = s.samples
        sc.cycles.use_adaptive_sampling = False
        sc.cycles.seed = 0
        sc.cycles.max_bounces = s.max_bounces
        sc.cycles.glossy_bounces = s.glossy_bounces
        sc.cycles.diffuse_bounces = s.diffuse_bounces
        sc.cycles.transmission_bounces = 0
        sc.cycles.volume_bounces = 0
        sc.cycles.transparent_max_bounces = 0
        sc.cycles.caustics_reflective = True
        sc.cycles.use_denoising = s.denoise
        sc.render.threads_mode = 'FIXED' if s.threads else 'AUTO'
        if s.threads:
            sc.render.threads = s.threads
        sc.render.resolution_percentage = 100
        sc.render.film_transparent = False
        sc.render.use_persistent_data = True
        sc.view_settings.view_transform = 'Standard'   # a linear sensor that clips, no filmic roll-off
        sc.view_settings.look = 'None'
        sc.view_settings.exposure = s.exposure
        sc.render.image_settings.file_format = 'PNG'
        sc.render.image_settings.color_mode = 'RGB'
        sc.render.image_settings.color_depth = '8'
        world = self.bpy.data.worlds.new('hall')
        world.node_tree.nodes['Background'].inputs['Strength'].default_value = s.ambient
        world.node_tree.nodes['Background'].inputs['Color'].default_value = (0.8, 0.8, 0.8, 1.0)
        sc.world = world

    def _new_object(self, name: str, data):
        o = self.bpy.data.objects.new(name, data)
        self.scene.collection.objects.link(o)
        return o

    def _mesh_from(self, obj: CatalogObject):
        try:
            mesh = obj.mesh
            vertices, faces = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
        except Exception as e:  # noqa: BLE001 - any loader failure is reported with the file
            raise RenderError(f'{obj.mesh_path}: Cycles cannot load the mesh of {obj.name} ({e})') from None
        if len(faces) == 0:
            raise RenderError(f'{obj.mesh_path}: the mesh of {obj.name} has no faces')
        me = self.bpy.data.meshes.new(obj.name)
        me.from_pydata(vertices.tolist(), [], faces.tolist())
        me.validate()
        for poly in me.polygons:  # CAD facets: flat shading keeps edges sharp
            poly.use_smooth = False
        return me

    def _box(self, name: str, half: tuple, centre: tuple, material):
        import bmesh
        me = self.bpy.data.meshes.new(name)
        bm = bmesh.new()
        bmesh.ops.create_cube(bm, size=1.0)
        bmesh.ops.scale(bm, vec=[2 * h for h in half], verts=bm.verts)
        bm.to_mesh(me)
        bm.free()
        me.materials.append(material)
        o = self._new_object(name, me)
        o.location = centre
        return o

    def _build_static(self) -> None:
        s = self.settings
        table = self._plastic('table', s.table_rgb, 0.7, bump=0.3, scale=40.0)
        tote = self._plastic('tote', s.tote_rgb, s.tote_roughness, bump=0.15, scale=300.0)
        self._box('table', (2.0, 2.0, 0.005), (0.0, 0.0, -self.bin.wall_m - 0.005), table)
        for k, (half, centre) in enumerate(self.bin.boxes()):
            if k >= 3:  # the rasterizer's end walls overlap the side walls at the corners; coplanar
                half = (half[0] - self.bin.wall_m, *half[1:])   # faces there would render black in Cycles
            self._box(f'tote_{k}', half, centre, tote)

    # -- materials ---------------------------------------------------------------------------------

    def _principled(self, name: str):
        mat = self.bpy.data.materials.new(name)   # node-based from birth since Blender 5.0
        return mat, mat.node_tree.nodes, mat.node_tree.links, mat.node_tree.nodes['Principled BSDF']

    def _plastic(self, name: str, rgb: tuple, roughness: float, bump: float, scale: float):
        """A dielectric with a noisy bump: worn polypropylene, a workbench."""
        mat, nodes, links, bsdf = self._principled(name)
        bsdf.inputs['Base Color'].default_value = (*rgb, 1.0)
        bsdf.inputs['Roughness'].default_value = roughness
        noise = nodes.new('ShaderNodeTexNoise')
        noise.inputs['Scale'].default_value = scale
        bump_node = nodes.new('ShaderNodeBump')
        bump_node.inputs['Strength'].default_value = bump
        bump_node.inputs['Distance'].default_value = 0.0005
        links.new(noise.outputs['Fac'], bump_node.inputs['Height'])
        links.new(bump_node.outputs['Normal'], bsdf.inputs['Normal'])
        return mat

    def _steel(self):
        """Steel under oil and dust.

        A metallic principled BSDF whose roughness varies per part (Object Info random) and along it
        (noise); oil patches lower the roughness and add a thin-film coat; dust patches, weighted by
        how much the face points up (world normal z), mix in a matte diffuse layer.
        """
        s = self.settings
        mat, nodes, links, bsdf = self._principled('steel')
        bsdf.inputs['Base Color'].default_value = (*s.part_rgb, 1.0)
        bsdf.inputs['Metallic'].default_value = 1.0
        info = nodes.new('ShaderNodeObjectInfo')
        noise = nodes.new('ShaderNodeTexNoise')
        noise.inputs['Scale'].default_value = 150.0
        mix = nodes.new('ShaderNodeMath')    # random in [0, 1) per part, plus a little noise along it
        mix.operation = 'MULTIPLY_ADD'
        mix.inputs[1].default_value = 0.5
        links.new(noise.outputs['Fac'], mix.inputs[0])
        links.new(info.outputs['Random'], mix.inputs[2])
        rough = nodes.new('ShaderNodeMapRange')
        rough.inputs['From Min'].default_value, rough.inputs['From Max'].default_value = 0.0, 1.5
        rough.inputs['To Min'].default_value = max(0.02, s.part_roughness - s.roughness_spread)
        rough.inputs['To Max'].default_value = s.part_roughness + s.roughness_spread
        links.new(mix.outputs[0], rough.inputs['Value'])
        oil = self._patches(nodes, links, info, s.oil_coverage, seed=0.0)
        wet = nodes.new('ShaderNodeMix')     # roughness: the steel's where dry, the film's where oily
        wet.data_type = 'FLOAT'
        wet.inputs['B'].default_value = s.oil_roughness
        links.new(oil.outputs['Result'], wet.inputs['Factor'])
        links.new(rough.outputs['Result'], wet.inputs['A'])
        links.new(wet.outputs['Result'], bsdf.inputs['Roughness'])
        film = nodes.new('ShaderNodeMath')
        film.operation = 'MULTIPLY'
        film.inputs[1].default_value = s.oil_film_nm
        links.new(oil.outputs['Result'], film.inputs[0])
        links.new(film.outputs[0], bsdf.inputs['Thin Film Thickness'])
        bsdf.inputs['Thin Film IOR'].default_value = s.oil_ior
        if s.dust_coverage <= 0.0:
            return mat
        dust_bsdf = nodes.new('ShaderNodeBsdfDiffuse')
        dust_bsdf.inputs['Color'].default_value = (*s.dust_rgb, 1.0)
        dust_bsdf.inputs['Roughness'].default_value = 1.0
        up = nodes.new('ShaderNodeSeparateXYZ')
        links.new(nodes.new('ShaderNodeNewGeometry').outputs['Normal'], up.inputs[0])
        settled = nodes.new('ShaderNodeMath')   # dust where the face points up, none on overhangs
        settled.operation = 'MULTIPLY'
        settled.use_clamp = True
        links.new(up.outputs['Z'], settled.inputs[0])
        links.new(self._patches(nodes, links, info, s.dust_coverage, seed=37.0).outputs['Result'],
                  settled.inputs[1])
        layer = nodes.new('ShaderNodeMixShader')
        links.new(settled.outputs[0], layer.inputs['Fac'])
        links.new(bsdf.outputs['BSDF'], layer.inputs[1])
        links.new(dust_bsdf.outputs['BSDF'], layer.inputs[2])
        links.new(layer.outputs['Shader'], nodes['Material Output'].inputs['Surface'])
        return mat

    @staticmethod
    def _patches(nodes, links, info, coverage: float, seed: float):
        """A 0..1 mask over about ``coverage`` of each part: 4D noise in the part's own coordinates
        (patches a few millimetres across), its fourth coordinate the part's random number, so no two
        parts carry the same pattern."""
        coord = nodes.new('ShaderNodeTexCoord')
        w = nodes.new('ShaderNodeMath')
        w.operation = 'MULTIPLY_ADD'
        w.inputs[1].default_value, w.inputs[2].default_value = 100.0, seed
        links.new(info.outputs['Random'], w.inputs[0])
        noise = nodes.new('ShaderNodeTexNoise')
        noise.noise_dimensions = '4D'
        noise.inputs['Scale'].default_value = 120.0   # per metre of the part's frame
        noise.inputs['Detail'].default_value = 3.0
        links.new(coord.outputs['Object'], noise.inputs['Vector'])
        links.new(w.outputs[0], noise.inputs['W'])
        # the noise's value is about N(0.5, 0.08); the threshold that leaves `coverage` above it
        threshold = 0.5 + 0.08 * float(norm.ppf(1.0 - min(max(coverage, 1e-3), 1 - 1e-3)))
        edge = nodes.new('ShaderNodeMapRange')
        edge.inputs['From Min'].default_value = threshold - 0.02
        edge.inputs['From Max'].default_value = threshold + 0.02
        links.new(noise.outputs['Fac'], edge.inputs['Value'])
        return edge

    def _dot_projector(self):
        """A spot light whose emission is a field of random dots in its own angular coordinates."""
        s = self.settings
        light = self.bpy.data.lights.new('projector', 'SPOT')
        light.energy = s.projector_power_w
        light.spot_size = np.deg2rad(80.0)
        light.spot_blend = 0.1
        light.shadow_soft_size = 0.0   # a point source: sharp dots
        light.use_nodes = True
        nodes, links = light.node_tree.nodes, light.node_tree.links
        coord = nodes.new('ShaderNodeTexCoord')
        split = nodes.new('ShaderNodeSeparateXYZ')
        links.new(coord.outputs['Normal'], split.inputs[0])   # the ray's direction in the light's frame
        ray = nodes.new('ShaderNodeCombineXYZ')
        tan = []
        for axis in ('X', 'Y'):
            div = nodes.new('ShaderNodeMath')
            div.operation = 'DIVIDE'
            links.new(split.outputs[axis], div.inputs[0])
            links.new(split.outputs['Z'], div.inputs[1])
            tan.append(div)
        links.new(tan[0].outputs[0], ray.inputs['X'])
        links.new(tan[1].outputs[0], ray.inputs['Y'])
        cells = nodes.new('ShaderNodeTexVoronoi')
        cells.voronoi_dimensions = '2D'
        cells.inputs['Scale'].default_value = s.projector_dots
        links.new(ray.outputs[0], cells.inputs['Vector'])
        dot = nodes.new('ShaderNodeMath')
        dot.operation = 'LESS_THAN'
        dot.inputs[1].default_value = s.projector_dot_radius
        links.new(cells.outputs['Distance'], dot.inputs[0])
        emission = nodes['Emission']
        links.new(dot.outputs[0], emission.inputs['Strength'])
        return light

    # -- rendering ---------------------------------------------------------------------------------

    def _set_parts(self, T_world_obj: list[np.ndarray]) -> None:
        while len(self._parts) < len(T_world_obj):
            self._parts.append(self._new_object(f'part_{len(self._parts):03d}', self._part_mesh))
        while len(self._parts) > len(T_world_obj):
            self.bpy.data.objects.remove(self._parts.pop(), do_unlink=True)
        for o, T in zip(self._parts, T_world_obj):
            o.matrix_world = _blender_matrix(T)

    def _set_camera(self, T_world_cam: np.ndarray, camera: PinholeCamera) -> None:
        """Blender camera reproducing the pinhole ``camera`` (OpenCV pixel centres at integers)."""
        sc, cam = self.scene, self._camera.data
        fx, fy, cx, cy = camera.K[0, 0], camera.K[1, 1], camera.K[0, 2], camera.K[1, 2]
        w, h = camera.width, camera.height
        sc.render.resolution_x, sc.render.resolution_y = w, h
        sc.render.pixel_aspect_x, sc.render.pixel_aspect_y = (1.0, fx / fy) if fx >= fy else (fy / fx, 1.0)
        cam.sensor_fit = 'HORIZONTAL'
        cam.sensor_width = 36.0
        # horizontal fit: the sensor width spans the image width in pixels of width 1/fx in focal units
        cam.lens = fx * cam.sensor_width / w
        cam.shift_x = -(cx - (w - 1) / 2) / w
        cam.shift_y = (cy - (h - 1) / 2) / w * (fx / fy)
        cam.clip_start, cam.clip_end = 0.05, 3.0
        self._camera.matrix_world = _blender_matrix(T_world_cam @ T_CV_BLENDER)

    def place_lights(self, T_world_rig: np.ndarray, lamp_slope: np.ndarray) -> None:
        """The projector at the rig's origin (OpenCV frame), looking along its optical axis; the ceiling
        lamp ``area_height_m`` up, where the ray (sx, sy, 1) from the tote's centre meets the ceiling."""
        self._projector.matrix_world = _blender_matrix(T_world_rig @ T_CV_BLENDER)
        x, y = (self.settings.area_height_m * float(v) for v in lamp_slope)
        self._area.location = (x, y, self.settings.area_height_m)

    def render(self, T_world_obj: list[np.ndarray], T_world_cam: np.ndarray, camera: PinholeCamera,
               read_flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
        """HxWx3 uint8 sRGB image of the parts at ``T_world_obj`` seen from ``T_world_cam`` (OpenCV frame).

        Raises:
            RenderError: Cycles did not write the image.
        """
        self._set_parts(T_world_obj)
        self._set_camera(T_world_cam, camera)
        path = Path(self._tmp.name) / 'frame.png'
        path.unlink(missing_ok=True)
        self.scene.render.filepath = str(path)
        try:
            with _quiet(1):
                self.bpy.ops.render.render(write_still=True)
        except RuntimeError as e:
            raise RenderError(f'Cycles failed to render {self.obj.name}: {e}') from None
        bgr = cv2.imread(str(path), read_flags)
        if bgr is None or bgr.shape[:2] != (camera.height, camera.width):
            raise RenderError(f'Cycles wrote no {camera.width}x{camera.height} image to {path}')
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def instance_ids(self, T_world_obj: list[np.ndarray], T_world_cam: np.ndarray,
                     camera: PinholeCamera) -> np.ndarray:
        """HxW int label image of what Cycles itself sees: k = part k-1, 0 = tote, table or nothing.

        One sample per pixel at the pixel centre, every surface an emitter of its part's index, so the
        label image is Cycles' own geometry and camera model (to check them against the rasterizer's).
        """
        bpy, sc = self.bpy, self.scene
        self._set_parts(T_world_obj)
        for k, o in enumerate(self._parts):
            o.pass_index = k + 1
        ids = bpy.data.materials.get('instance_ids') or self._id_material()
        saved = (sc.cycles.samples, sc.cycles.use_denoising, sc.cycles.filter_width, sc.view_settings.view_transform,
                 sc.view_settings.exposure, sc.render.image_settings.color_depth, sc.world)
        layer = bpy.context.view_layer
        lights = [self._area, self._projector]
        try:
            sc.cycles.samples, sc.cycles.use_denoising, sc.cycles.filter_width = 1, False, 0.01
            sc.view_settings.view_transform, sc.view_settings.exposure = 'Raw', 0.0
            sc.render.image_settings.color_depth, sc.world = '16', None
            layer.material_override = ids
            for light in lights:
                light.hide_render = True
            rendered = self.render(T_world_obj, T_world_cam, camera, read_flags=cv2.IMREAD_UNCHANGED)
        finally:
            (sc.cycles.samples, sc.cycles.use_denoising, sc.cycles.filter_width, sc.view_settings.view_transform,
             sc.view_settings.exposure, sc.render.image_settings.color_depth, sc.world) = saved
            layer.material_override = None
            for light in lights:
                light.hide_render = False
        return np.rint(rendered[..., 0].astype(np.float64) / 256.0).astype(np.int32)

    def _id_material(self):
        mat, nodes, links, bsdf = self._principled('instance_ids')
        info = nodes.new('ShaderNodeObjectInfo')
        scale = nodes.new('ShaderNodeMath')
        scale.operation = 'DIVIDE'
        scale.inputs[1].default_value = 256.0
        links.new(info.outputs['Object Index'], scale.inputs[0])
        emission = nodes.new('ShaderNodeEmission')
        links.new(scale.outputs[0], emission.inputs['Strength'])
        nodes.remove(bsdf)
        links.new(emission.outputs['Emission'], nodes['Material Output'].inputs['Surface'])
        return mat

    def close(self) -> None:
        self._tmp.cleanup()
