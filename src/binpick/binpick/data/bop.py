"""Read and write datasets in the BOP format (Hodan et al., https://bop.felk.cvut.cz).

Layout of one split::

    <dataset>/<split>/<scene_id:06d>/
        scene_camera.json   per image: cam_K, depth_scale [, cam_R_w2c, cam_t_w2c (mm)]
        scene_gt.json       per image: list of {obj_id, cam_R_m2c, cam_t_m2c (mm)}
        scene_gt_info.json  per image: list of {bbox_obj, bbox_visib, px_count_*, visib_fract}
        rgb/<im_id:06d>.png
        depth/<im_id:06d>.png            uint16; depth in mm = value * depth_scale
        mask/<im_id:06d>_<gt_id:06d>.png       full (amodal) mask of each GT instance
        mask_visib/<im_id:06d>_<gt_id:06d>.png visible mask of each GT instance
    <dataset>/models/obj_<obj_id:06d>.ply, models_info.json

Millimetres exist only in these files; every function here takes and returns metres.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from binpick.data import atomic
from binpick.data.errors import DataFormatError
from binpick.data.jsonfields import int_keys, integer, load_json, number, number_array
from binpick.geometry import invert, is_rotation, make_T

DEPTH_SCALE_DEFAULT = 0.1  # mm per depth-PNG unit: 0.1 mm resolution, 6.5 m range
GT_EVAL_DIR = 'gt_eval_only'  # real-emulated datasets keep their ground truth here, apart from the frames


def eval_gt_dir(split_dir: str | Path) -> Path | None:
    """Where the ground truth of ``DATASET/SPLIT`` is kept apart from its frames (``DATASET/gt_eval_only/SPLIT``
    of a real-emulated dataset), or None when it is in the split itself."""
    split_dir = Path(split_dir)
    gt_dir = split_dir.parent / GT_EVAL_DIR / split_dir.name
    return gt_dir if gt_dir.is_dir() else None


@dataclass
class CameraView:
    """One scene_camera.json entry: intrinsics and (optionally) the camera pose in the world.

    Attributes:
        K: 3x3 pinhole intrinsics, pixels.
        depth_scale: millimetres per unit of the depth PNG.
        T_world_cam: 4x4 camera pose in the world frame, metres; None when not recorded.
    """

    K: np.ndarray
    depth_scale: float = DEPTH_SCALE_DEFAULT
    T_world_cam: np.ndarray | None = None


@dataclass
class GtPose:
    """One scene_gt.json entry: object id and its pose in the camera frame (metres)."""

    obj_id: int
    T_cam_obj: np.ndarray


@dataclass
class GtInfo:
    """One scene_gt_info.json entry. Boxes are (x, y, w, h) in pixels; (-1,-1,-1,-1) when empty."""

    bbox_obj: tuple[int, int, int, int]
    bbox_visib: tuple[int, int, int, int]
    px_count_all: int
    px_count_valid: int
    px_count_visib: int
    visib_fract: float


@dataclass
class Frame:
    """One image of a BOP scene with whatever annotation the split carries."""

    scene_id: int
    im_id: int
    rgb: np.ndarray                 # HxWx3 uint8, RGB order
    depth_m: np.ndarray             # HxW float32 metres, 0 where there is no depth
    camera: CameraView
    gt: list[GtPose] | None = None  # None for splits without ground truth
    gt_info: list[GtInfo] | None = None
    masks_visib: list[np.ndarray] | None = field(default=None, repr=False)  # HxW bool per GT


# ---------------------------------------------------------------------------------------------
# JSON entries

def _pose_from_bop(entry: dict, R_key: str, t_key: str, path: Path, where: str) -> np.ndarray:
    R = number_array(entry, R_key, 9, path, where).reshape(3, 3)
    if not is_rotation(R, atol=1e-4):
        raise DataFormatError(path, f'{where}.{R_key}', 'is not a rotation matrix')
    t_m = number_array(entry, t_key, 3, path, where) / 1000.0
    return make_T(R, t_m)


def _pose_to_bop(T: np.ndarray, R_key: str, t_key: str) -> dict:
    return {R_key: [float(v) for v in T[:3, :3].reshape(-1)],
            t_key: [float(v) * 1000.0 for v in T[:3, 3]]}


def camera_to_bop(cam: CameraView) -> dict:
    """scene_camera.json entry of a CameraView (mm for the camera pose)."""
    entry = {'cam_K': [float(v) for v in np.asarray(cam.K).reshape(-1)],
             'depth_scale': float(cam.depth_scale)}
    if cam.T_world_cam is not None:
        entry.update(_pose_to_bop(invert(cam.T_world_cam), 'cam_R_w2c', 'cam_t_w2c'))
    return entry


def camera_from_bop(entry: dict, path: Path, where: str) -> CameraView:
    """Parse one scene_camera.json entry."""
    K = number_array(entry, 'cam_K', 9, path, where).reshape(3, 3)
    depth_scale = number(entry, 'depth_scale', path, where)
    if depth_scale <= 0:
        raise DataFormatError(path, f'{where}.depth_scale', f'must be positive, got {depth_scale}')
    T_world_cam = None
    if 'cam_R_w2c' in entry:
        T_world_cam = invert(_pose_from_bop(entry, 'cam_R_w2c', 'cam_t_w2c', path, where))
    return CameraView(K, depth_scale, T_world_cam)


def gt_to_bop(gt: GtPose) -> dict:
    """scene_gt.json entry of one GtPose (mm)."""
    return {**_pose_to_bop(gt.T_cam_obj, 'cam_R_m2c', 'cam_t_m2c'), 'obj_id': int(gt.obj_id)}


def gt_from_bop(entry: dict, path: Path, where: str) -> GtPose:
    """Parse one scene_gt.json entry."""
    return GtPose(integer(entry, 'obj_id', path, where),
                  _pose_from_bop(entry, 'cam_R_m2c', 'cam_t_m2c', path, where))


def gt_info_to_bop(info: GtInfo) -> dict:
    """scene_gt_info.json entry."""
    return {'bbox_obj': [int(v) for v in info.bbox_obj], 'bbox_visib': [int(v) for v in info.bbox_visib],
            'px_count_all': int(info.px_count_all), 'px_count_valid': int(info.px_count_valid),
            'px_count_visib': int(info.px_count_visib), 'visib_fract': float(info.visib_fract)}


def gt_info_from_bop(entry: dict, path: Path, where: str) -> GtInfo:
    """Parse one scene_gt_info.json entry."""
    box = lambda k: tuple(int(v) for v in number_array(entry, k, 4, path, where))  # noqa: E731
    return GtInfo(box('bbox_obj'), box('bbox_visib'),
                  integer(entry, 'px_count_all', path, where),
                  integer(entry, 'px_count_valid', path, where),
                  integer(entry, 'px_count_visib', path, where),
                  number(entry, 'visib_fract', path, where))


def _read_per_image(path: Path, parse) -> dict:
    out = {}
    for im_id, value in int_keys(load_json(path), path).items():
        if isinstance(value, list):
            out[im_id] = [parse(e, path, f'image {im_id}[{i}]') for i, e in enumerate(value)]
        else:
            out[im_id] = parse(value, path, f'image {im_id}')
    return out


def read_scene_camera(path: str | Path) -> dict[int, CameraView]:
    """scene_camera.json -> {im_id: CameraView}."""
    return _read_per_image(Path(path), camera_from_bop)


def read_scene_gt(path: str | Path) -> dict[int, list[GtPose]]:
    """scene_gt.json -> {im_id: [GtPose]} (metres)."""
    data = _read_per_image(Path(path), gt_from_bop)
    for im_id, value in data.items():
        if not isinstance(value, list):
            raise DataFormatError(path, f'image {im_id}', 'expected a list of ground-truth poses')
    return data


def read_scene_gt_info(path: str | Path) -> dict[int, list[GtInfo]]:
    """scene_gt_info.json -> {im_id: [GtInfo]}."""
    return _read_per_image(Path(path), gt_info_from_bop)


def write_scene_camera(path: str | Path, cameras: dict[int, CameraView]) -> None:
    """Write scene_camera.json atomically."""
    atomic.write_json(path, {str(k): camera_to_bop(cameras[k]) for k in sorted(cameras)}, indent=None)


def write_scene_gt(path: str | Path, gt: dict[int, list[GtPose]]) -> None:
    """Write scene_gt.json atomically."""
    atomic.write_json(path, {str(k): [gt_to_bop(g) for g in gt[k]] for k in sorted(gt)}, indent=None)


def write_scene_gt_info(path: str | Path, infos: dict[int, list[GtInfo]]) -> None:
    """Write scene_gt_info.json atomically."""
    atomic.write_json(path, {str(k): [gt_info_to_bop(g) for g in infos[k]] for k in sorted(infos)},
                      indent=None)


# ---------------------------------------------------------------------------------------------
# images

def _encode_png(path: Path, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode('.png', image)  # OpenCV's default is its fastest setting here (measured)
    if not ok:
        raise DataFormatError(path, '', f'could not encode a {image.dtype} {image.shape} image as PNG')
    return buf.tobytes()


def _read_png(path: Path, flags: int) -> np.ndarray:
    image = cv2.imread(str(path), flags)
    if image is None:
        raise DataFormatError(path, '', 'missing or not a readable image')
    return image


def write_rgb(path: str | Path, rgb: np.ndarray, fsync: bool = True) -> None:
    """Write an HxWx3 uint8 RGB image as PNG, atomically."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f'{path}: expected an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}')
    atomic.write_bytes(path, _encode_png(Path(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), fsync)


def read_rgb(path: str | Path) -> np.ndarray:
    """HxWx3 uint8 RGB image."""
    return cv2.cvtColor(_read_png(Path(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def write_depth(path: str | Path, depth_m: np.ndarray, depth_scale: float = DEPTH_SCALE_DEFAULT,
                fsync: bool = True) -> None:
    """Write metric depth (HxW, metres, 0 = none) as a BOP uint16 PNG: value = mm / depth_scale."""
    depth_m = np.nan_to_num(np.asarray(depth_m, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    units = np.round(depth_m * 1000.0 / depth_scale)
    if units.max(initial=0) > 65535:
        raise ValueError(f'{path}: depth {depth_m.max():.3f} m does not fit uint16 with '
                         f'depth_scale {depth_scale} mm')
    atomic.write_bytes(path, _encode_png(Path(path), np.clip(units, 0, 65535).astype(np.uint16)), fsync)


def read_depth(path: str | Path, depth_scale: float) -> np.ndarray:
    """HxW float32 depth in metres from a BOP depth PNG (0 where there is no depth)."""
    raw = _read_png(Path(path), cv2.IMREAD_ANYDEPTH)
    return (raw.astype(np.float32) * np.float32(depth_scale / 1000.0))


def write_mask(path: str | Path, mask: np.ndarray, fsync: bool = True) -> None:
    """Write a boolean HxW mask as an 8-bit PNG (255 = object)."""
    atomic.write_bytes(path, _encode_png(Path(path), np.where(mask, 255, 0).astype(np.uint8)), fsync)


def read_mask(path: str | Path) -> np.ndarray:
    """Boolean HxW mask."""
    return _read_png(Path(path), cv2.IMREAD_GRAYSCALE) > 127


# ---------------------------------------------------------------------------------------------
# datasets

class BopSplit:
    """Reader of one split of a BOP dataset (``<dataset>/<split>``), ground truth optional."""

    def __init__(self, split_dir: str | Path, gt_dir: str | Path | None = None) -> None:
        """``gt_dir``: where the ground truth of this split lives when kept apart from the images
        (``gt_eval_only/<split>`` of a real-emulated dataset); default: the split folder itself."""
        self.root = Path(split_dir)
        self.gt_root = Path(gt_dir) if gt_dir is not None else self.root
        self._cache: dict[int, tuple] = {}
        if not self.root.is_dir():
            raise DataFormatError(self.root, '', 'BOP split folder does not exist')

    def scene_ids(self) -> list[int]:
        """Scene ids present (folders with a scene_camera.json)."""
        return sorted(int(p.name) for p in self.root.iterdir()
                      if p.is_dir() and p.name.isdigit() and (p / 'scene_camera.json').is_file())

    def scene_dir(self, scene_id: int) -> Path:
        return self.root / f'{scene_id:06d}'

    def has_gt(self, scene_id: int) -> bool:
        return (self.gt_root / f'{scene_id:06d}' / 'scene_gt.json').is_file()

    def image_ids(self, scene_id: int) -> list[int]:
        return sorted(self.annotations(scene_id)[0])

    def annotations(self, scene_id: int):
        """(cameras, gt or None, gt_info or None) of a scene, read once and cached."""
        cached = self._cache.get(scene_id)
        if cached is None:
            d = self.scene_dir(scene_id)
            cameras = read_scene_camera(d / 'scene_camera.json')
            gt_root = self.gt_root / f'{scene_id:06d}'
            gt = read_scene_gt(gt_root / 'scene_gt.json') if (gt_root / 'scene_gt.json').is_file() else None
            info_path = gt_root / 'scene_gt_info.json'
            gt_info = read_scene_gt_info(info_path) if gt is not None and info_path.is_file() else None
            cached = self._cache[scene_id] = (cameras, gt, gt_info)
        return cached

    def frame(self, scene_id: int, im_id: int, with_masks: bool = False) -> Frame:
        """One Frame; ground truth (and visible masks if asked) attached when the split has it."""
        cameras, gt, gt_info = self.annotations(scene_id)
        if im_id not in cameras:
            raise DataFormatError(self.scene_dir(scene_id) / 'scene_camera.json', f'image {im_id}', 'missing entry')
        d, cam = self.scene_dir(scene_id), cameras[im_id]
        frame = Frame(scene_id, im_id, read_rgb(d / 'rgb' / f'{im_id:06d}.png'),
                      read_depth(d / 'depth' / f'{im_id:06d}.png', cam.depth_scale), cam)
        if gt is not None:
            gt_root = self.gt_root / f'{scene_id:06d}'
            if im_id not in gt:
                raise DataFormatError(gt_root / 'scene_gt.json', f'image {im_id}', 'missing entry')
            frame.gt = gt[im_id]
            frame.gt_info = gt_info.get(im_id) if gt_info is not None else None
            if with_masks:
                frame.masks_visib = [read_mask(gt_root / 'mask_visib' / f'{im_id:06d}_{k:06d}.png')
                                     for k in range(len(frame.gt))]
        return frame

    def frames(self, scene_id: int, with_masks: bool = False):
        """Yield every Frame of a scene; ground truth is attached when the split has it."""
        for im_id in sorted(self.annotations(scene_id)[0]):
            yield self.frame(scene_id, im_id, with_masks)


def write_frame_images(scene_dir: str | Path, im_id: int, rgb: np.ndarray, depth_m: np.ndarray,
                       depth_scale: float = DEPTH_SCALE_DEFAULT,
                       masks: list[np.ndarray] | None = None,
                       masks_visib: list[np.ndarray] | None = None, mask_dir: str | Path | None = None,
                       fsync: bool = True) -> None:
    """Write the image files of one frame (rgb, depth, masks) into a scene folder.

    ``mask_dir`` puts the masks in another scene folder (ground truth kept apart from the images).
    """
    d = Path(scene_dir)
    write_rgb(d / 'rgb' / f'{im_id:06d}.png', rgb, fsync)
    write_depth(d / 'depth' / f'{im_id:06d}.png', depth_m, depth_scale, fsync)
    for sub, mask_list in (('mask', masks), ('mask_visib', masks_visib)):
        for k, m in enumerate(mask_list or []):
            write_mask(Path(mask_dir or d) / sub / f'{im_id:06d}_{k:06d}.png', m, fsync)


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) in pixels of the pixels set in an HxW mask; (-1, -1, -1, -1) when it is empty."""
    xs, ys = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if len(xs) == 0:
        return (-1, -1, -1, -1)
    return (int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1))


def gt_info_from_masks(mask: np.ndarray, mask_visib: np.ndarray, depth_m: np.ndarray) -> GtInfo:
    """GtInfo of one instance from its full and visible masks and the frame's depth (metres)."""
    n_all = int(mask.sum())
    n_visib = int(mask_visib.sum())
    return GtInfo(mask_bbox(mask), mask_bbox(mask_visib), n_all, int((mask & (depth_m > 0)).sum()), n_visib,
                  n_visib / n_all if n_all else 0.0)
