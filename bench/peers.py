"""Classical peers of the learned teacher, on the same instances with the same masks: what a user
would pick instead of a network.

- ``ppf``: OpenCV's point-pair-feature matcher (Drost et al. 2010, ``cv2.ppf_match_3d``, from
  opencv-contrib) with its own ICP, model and scene normals as OpenCV computes them.
- ``fpfh``: Open3D FPFH features + RANSAC + ICP.
- ``binpick``: this project's full inference path (network, hypotheses, ICP, verification).

    .venv/bin/python bench/peers.py --data DATA_REAL --ckpt POSE.pt --seg-ckpt SEG.pt [--max-images 12]

Prints recall (ADD(-S) < 10 % of the diameter, BOP19 visibility ≥ 10 %) and ms per instance on one
thread. ``bench/teacher.py`` calls :func:`run_peers` for the teacher report.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

# the settings each peer was run with (tuned a little on the first frames of the split, see the report)
PPF_SETTINGS = {'relative_sampling_step': 0.04, 'relative_distance_step': 0.05, 'scene_sample_step': 1 / 4,
                'scene_distance': 0.03, 'icp_iterations': 50, 'poses_refined': 5, 'normal_neighbours': 12}
FPFH_SETTINGS = {'voxel': 0.04, 'feature_radius': 5.0, 'normal_radius': 2.0, 'ransac_iterations': 20000,
                 'ransac_confidence': 0.999, 'icp': 'point-to-point', 'icp_distance': 0.1}


@dataclass
class PeerModel:
    """The model of one part as the peers need it: surface points with outward normals (object frame, m)."""

    points: np.ndarray
    normals: np.ndarray
    diameter_m: float

    @classmethod
    def of(cls, obj, n: int = 2000) -> PeerModel:
        import trimesh
        pts, faces = trimesh.sample.sample_surface_even(obj.mesh, n, seed=0)
        return cls(np.asarray(pts, np.float64), np.asarray(obj.mesh.face_normals[faces], np.float64),
                   obj.info.diameter_m)


class PpfPeer:
    """OpenCV's PPF detector trained on the model, with OpenCV's ICP on the best poses."""

    name = 'ppf'

    def __init__(self, model: PeerModel, s: dict = PPF_SETTINGS) -> None:
        import cv2
        self.cv2, self.s = cv2, s
        self.model_pc = np.hstack([model.points, model.normals]).astype(np.float32)
        self.detector = cv2.ppf_match_3d_PPF3DDetector(s['relative_sampling_step'], s['relative_distance_step'])
        self.detector.trainModel(self.model_pc)
        self.icp = cv2.ppf_match_3d_ICP(s['icp_iterations'])

    def estimate(self, observed_m: np.ndarray) -> np.ndarray | None:
        _, scene = self.cv2.ppf_match_3d.computeNormalsPC3d(
            np.ascontiguousarray(observed_m, np.float32), self.s['normal_neighbours'], True, (0.0, 0.0, 0.0))
        results = self.detector.match(scene, self.s['scene_sample_step'], self.s['scene_distance'])
        if not results:
            return None
        _, results = self.icp.registerModelToScene(self.model_pc, scene, list(results[:self.s['poses_refined']]))
        best = min(results, key=lambda r: r.residual)
        return np.asarray(best.pose, np.float64)


class FpfhPeer:
    """Open3D FPFH + RANSAC global registration of the model to the instance, then ICP."""

    name = 'fpfh'

    def __init__(self, model: PeerModel, s: dict = FPFH_SETTINGS) -> None:
        import open3d as o3d
        self.o3d, self.s, self.d = o3d, s, model.diameter_m
        self.voxel = s['voxel'] * model.diameter_m
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(model.points))
        cloud.normals = o3d.utility.Vector3dVector(model.normals)
        self.source = cloud.voxel_down_sample(self.voxel)
        self.source_features = self._features(self.source)

    def _features(self, cloud):
        f = self.o3d.pipelines.registration.compute_fpfh_feature
        radius = self.s['feature_radius'] * self.voxel
        return f(cloud, self.o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=100))

    def estimate(self, observed_m: np.ndarray) -> np.ndarray | None:
        o3d, reg = self.o3d, self.o3d.pipelines.registration
        target = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(observed_m, np.float64)))
        target = target.voxel_down_sample(self.voxel)
        if len(target.points) < 10:
            return None
        target.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=self.s['normal_radius'] * self.voxel,
                                                                     max_nn=30))
        target.orient_normals_towards_camera_location(np.zeros(3))
        result = reg.registration_ransac_based_on_feature_matching(
            self.source, target, self.source_features, self._features(target), True, 1.5 * self.voxel,
            reg.TransformationEstimationPointToPoint(False), 3,
            [reg.CorrespondenceCheckerBasedOnEdgeLength(0.9),
             reg.CorrespondenceCheckerBasedOnDistance(1.5 * self.voxel)],
            reg.RANSACConvergenceCriteria(self.s['ransac_iterations'], self.s['ransac_confidence']))
        refined = reg.registration_icp(self.source, target, self.s['icp_distance'] * self.d, result.transformation,
                                       reg.TransformationEstimationPointToPoint())
        return np.asarray(refined.transformation, np.float64)


def run_peers(split_dir, obj, masks, estimator, gt_dir=None, max_images: int | None = None,
              progress: bool = True) -> dict[str, dict[str, float]]:
    """Recall (%) and ms per instance of each peer and of ``estimator`` on the same instances.

    ``masks``: (scene_id, im_id) -> list of HxW bool masks (the same for every method).
    """
    from tqdm import tqdm

    from binpick.data.bop import BopSplit
    from binpick.data.bop_results import PoseEstimate
    from binpick.evaluation.recall import GtTarget, recall
    from binpick.evaluation.rules import RULES
    from binpick.perception.pose.inputs import SkipInstance, prepare_instance

    model = PeerModel.of(obj)
    peers = [PpfPeer(model), FpfhPeer(model)]
    split = BopSplit(split_dir, gt_dir)
    frames = [(s, i) for s in split.scene_ids() if split.has_gt(s) for i in split.image_ids(s)]
    if max_images and max_images < len(frames):
        frames = [frames[int(k)] for k in np.linspace(0, len(frames) - 1, max_images).round()]
    names = [p.name for p in peers] + ['binpick']
    estimates = {n: [] for n in names}
    seconds = dict.fromkeys(names, 0.0)
    targets, n_instances, rng = [], 0, np.random.default_rng(0)
    for scene_id, im_id in tqdm(frames, desc='peers', unit='image', disable=not progress):
        frame = split.frame(scene_id, im_id)
        targets += [GtTarget(scene_id, im_id, g.obj_id, g.T_cam_obj, info.visib_fract)
                    for g, info in zip(frame.gt, frame.gt_info) if g.obj_id == obj.obj_id]
        frame_masks = masks(scene_id, im_id)
        t0 = time.perf_counter()
        ours = estimator.estimate(frame.rgb, frame.depth_m, frame.camera.K, frame_masks)
        seconds['binpick'] += time.perf_counter() - t0
        for mask, result in zip(frame_masks, ours):
            try:   # the same observed points as the network gets
                observed = prepare_instance(frame.rgb, frame.depth_m, frame.camera.K, mask,
                                            estimator.config.n_points, estimator.config.crop_px, rng).observed
            except SkipInstance:
                continue
            n_instances += 1
            if result.T_cam_obj is not None:
                estimates['binpick'].append(PoseEstimate(scene_id, im_id, obj.obj_id, result.confidence,
                                                         result.T_cam_obj))
            for peer in peers:
                t0 = time.perf_counter()
                T = peer.estimate(observed)
                seconds[peer.name] += time.perf_counter() - t0
                if T is not None:
                    estimates[peer.name].append(PoseEstimate(scene_id, im_id, obj.obj_id, 1.0, T))
    pts, infos = {obj.obj_id: obj.sample_points(1000)}, {obj.obj_id: obj.info}
    return {n: {'recall': 100.0 * recall(targets, estimates[n], pts, infos, rule=RULES['bop19']).mean,
                'ms_per_instance': 1000.0 * seconds[n] / max(1, n_instances), 'instances': n_instances}
            for n in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', required=True, help='binpick synth dataset (its test split is used)')
    parser.add_argument('--ckpt', required=True, help='pose checkpoint')
    parser.add_argument('--seg-ckpt', help='segmentation checkpoint (default: ground-truth masks)')
    parser.add_argument('--max-images', type=int, default=12)
    args = parser.parse_args()

    import torch

    from binpick.catalog import Catalog
    from binpick.data.bop import BopSplit
    from binpick.perception.pose.estimator import PoseEstimator
    from binpick.perception.segmentation import Segmenter
    torch.set_num_threads(1)
    catalog = Catalog()
    estimator = PoseEstimator.load(args.ckpt, catalog)
    obj = catalog.get(estimator.config.object_name)
    split = BopSplit(f'{args.data}/test')
    if args.seg_ckpt:
        segmenter = Segmenter.load(args.seg_ckpt, catalog)
        masks = lambda s, i: [m.mask for m in segmenter.segment(split.frame(s, i).rgb)]  # noqa: E731
    else:
        masks = lambda s, i: [m for m in split.frame(s, i, with_masks=True).masks_visib if m.any()]  # noqa: E731
    for name, r in run_peers(f'{args.data}/test', obj, masks, estimator, max_images=args.max_images).items():
        print(f'{name:8s} recall {r["recall"]:5.1f} %  {r["ms_per_instance"]:7.1f} ms per instance '
              f'({r["instances"]} instances)')


if __name__ == '__main__':
    main()
