"""pose_estimation: colour + depth + camera info + instances -> ``binpick/poses`` (T_cam_obj with confidence),
the same as ``vision_msgs/Detection3DArray`` on ``binpick/detections`` and a TF frame per part on ``/tf``
(child ``<tf_prefix><object_id>_<instance>`` of the camera frame), and RViz mesh markers on
``binpick/pose_markers``. Swaps to a new model announced on
``binpick/model_updates`` after checking its SHA-256 and loading it off the frame path, so no frame waits;
a checkpoint that fails either check is refused and the current model stays."""
from __future__ import annotations

import threading

from visualization_msgs.msg import Marker, MarkerArray

from binpick.catalog import Catalog
from binpick.nodes import base, msgs, outputs
from binpick.nodes.frames import perceived_frame
from binpick.perception.model_registry import ModelRegistry, sha256
from binpick.perception.pose.estimator import DEFAULT_HYPOTHESES, PoseEstimator
from binpick_interfaces.msg import ModelUpdate, ObjectPose, ObjectPoseArray


class PoseEstimationNode(base.BinpickNode):
    def __init__(self, **kwargs) -> None:
        super().__init__('pose_estimation', **kwargs)
        self.catalog = Catalog()
        self.object_id = self.param('object_id', 'zigzag_bracket')
        self.obj = self.catalog.get(self.object_id)
        registry = ModelRegistry(self.param('model_dir', ''), self.param('pose_checkpoint', '') or None)
        current = registry.current()
        self.inference = {'inference': str(self.param('inference', 'full')),
                          'hypotheses': int(self.param('hypotheses', DEFAULT_HYPOTHESES)),
                          'points': int(self.param('points', 0)) or None}
        self.model = (self.load(current.path), current.version)
        self.swaps = 0
        self._swap_lock = threading.Lock()
        self.tf_prefix = str(self.param('tf_prefix', ''))
        self.poses = self.create_publisher(ObjectPoseArray, base.POSES, base.SENSOR_QOS)
        self.detections = self.create_publisher(outputs.Detection3DArray, base.DETECTIONS, base.RELIABLE_QOS)
        self.tf = self.create_publisher(outputs.TFMessage, outputs.TF, base.TF_QOS)
        self.markers = self.create_publisher(MarkerArray, base.MARKERS, base.SENSOR_QOS)
        self.worker = self.frame_worker('frame', self.estimate, 'pose')
        self.subscribe_frame(['color', 'depth', 'info', 'instances'], self.worker.submit)
        self.create_subscription(ModelUpdate, base.MODEL_UPDATES, self.guarded(base.MODEL_UPDATES, self.on_update),
                                 base.LATCHED_QOS)
        self.get_logger().info(f'pose model v{self.version} ({current.path}) for {self.object_id}')

    def load(self, path) -> PoseEstimator:
        """A pose checkpoint for this node's part, with the node's inference setting."""
        return PoseEstimator.load(path, self.catalog, self.object_id, **self.inference)

    @property
    def version(self) -> int:
        return self.model[1]

    @property
    def model_version(self) -> str:
        return f'pose-v{self.version}'

    def estimate(self, m: dict) -> None:
        frame = perceived_frame(m)
        keep = [k for k, o in enumerate(frame.object_ids) if o in ('', self.object_id)]
        estimator, version = self.model            # one model for the whole frame, even during a swap
        results = estimator.estimate(frame.rgb, frame.depth_m, frame.K, [frame.masks[k] for k in keep])
        header = m['color'].header
        found = [outputs.Estimate(m['instances'].instances[k].label, r.T_cam_obj, float(r.confidence))
                 for k, r in zip(keep, results) if r.T_cam_obj is not None]
        out = ObjectPoseArray(header=header, model_version=f'pose-v{version}')
        markers = MarkerArray(markers=[Marker(header=header, ns='binpick', action=Marker.DELETEALL)])
        for e in found:
            pose = msgs.pose_msg(e.T_cam_obj)
            out.poses.append(ObjectPose(object_id=self.object_id, instance_id=e.instance_id, pose=pose,
                                        confidence=e.confidence, d_mask=float('nan'), d_image=float('nan'),
                                        d_geo=float('nan')))
            markers.markers.append(Marker(
                header=header, ns='binpick', id=len(markers.markers), type=Marker.MESH_RESOURCE, action=Marker.ADD,
                pose=pose, mesh_resource=f'file://{self.obj.mesh_path}', frame_locked=False))
            mk = markers.markers[-1]
            mk.scale.x = mk.scale.y = mk.scale.z = 0.001            # BOP meshes are in millimetres
            mk.color.r, mk.color.g, mk.color.b, mk.color.a = 0.1, 0.8 * e.confidence + 0.2, 0.3, 0.8
        self.poses.publish(out)
        info = self.obj.info
        self.detections.publish(outputs.detections_msg(header, self.object_id, found, info.min_xyz_m,
                                                       info.size_xyz_m))
        if found:
            self.tf.publish(outputs.tf_msg(header, self.object_id, found, self.tf_prefix))
        self.markers.publish(markers)

    def on_update(self, msg: ModelUpdate) -> None:
        if msg.model_kind != 'pose' or msg.object_id not in ('', self.object_id) or msg.version <= self.version:
            return
        threading.Thread(target=self.guarded(base.MODEL_UPDATES, self._swap), args=(msg,), daemon=True).start()

    def _swap(self, msg: ModelUpdate) -> None:
        with self._swap_lock:
            if msg.version <= self.version:
                return
            try:
                digest = sha256(msg.path)
            except OSError as e:
                raise msgs.BadMessage(f'{base.MODEL_UPDATES}: v{msg.version} {msg.path}: {e}; keeping '
                                      f'{self.model_version}') from None
            if digest != msg.sha256:
                raise msgs.BadMessage(f'{base.MODEL_UPDATES}: v{msg.version} {msg.path} fails its checksum; keeping '
                                      f'{self.model_version}')
            try:
                estimator = self.load(msg.path)
            except Exception as e:  # noqa: BLE001 - any load failure keeps the model in service
                raise msgs.BadMessage(f'{base.MODEL_UPDATES}: v{msg.version} {msg.path} does not load ({e}); '
                                      f'keeping {self.model_version}') from None
            self.swaps += 1                          # counted first: whoever sees the new version sees the swap
            self.model = (estimator, msg.version)
            self.get_logger().info(f'now serving pose model v{msg.version} ({msg.path})')

    def close(self) -> None:
        self.worker.stop()


def main(args=None) -> int:
    return base.run(PoseEstimationNode, args)
