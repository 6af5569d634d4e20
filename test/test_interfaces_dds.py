"""binpick_interfaces over real DDS: every message published and received, every service and the
SelfTrain action called, between nodes of one process and across two processes."""
import subprocess
import sys
import threading
import time
import uuid

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.action import ActionClient, ActionServer, CancelResponse  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from binpick_interfaces.action import SelfTrain  # noqa: E402
from binpick_interfaces.msg import (  # noqa: E402
    BankStatistics,
    Instance,
    InstanceSegmentation,
    ModelUpdate,
    ObjectPose,
    ObjectPoseArray,
)
from binpick_interfaces.srv import RemoveInstance, TriggerSelfTrain  # noqa: E402

pytestmark = pytest.mark.ros
# float32 fields carry values exact in float32, so received messages compare equal
QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


@pytest.fixture
def ros():
    rclpy.init()
    ns = f'/t{uuid.uuid4().hex[:8]}'
    server = rclpy.create_node('iface_server', namespace=ns)
    client = rclpy.create_node('iface_client', namespace=ns)
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(server)
    executor.add_node(client)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield server, client
    finally:
        executor.shutdown()
        server.destroy_node()
        client.destroy_node()
        rclpy.shutdown()
        thread.join(timeout=5)


def _wait(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _pose_array():
    msg = ObjectPoseArray()
    msg.header.frame_id = 'camera_color_optical_frame'
    msg.model_version = 'pose-v3'
    p = ObjectPose(object_id='zigzag_bracket', instance_id=4, confidence=0.75, d_mask=0.125, d_image=0.25,
                   d_geo=0.00390625, accepted=True)
    p.pose.position.z = 0.7
    msg.poses = [p, ObjectPose(object_id='zigzag_bracket', instance_id=5, d_mask=float('nan'))]
    return msg


def _segmentation():
    msg = InstanceSegmentation(model_version='seg-v1')
    msg.label_image.height, msg.label_image.width, msg.label_image.encoding = 2, 3, 'mono16'
    msg.label_image.step = 6
    msg.label_image.data = bytes([0, 0, 1, 0, 1, 0, 2, 0, 2, 0, 0, 0])
    inst = Instance(label=1, object_id='zigzag_bracket', score=0.875)
    inst.roi.x_offset, inst.roi.width, inst.roi.height = 1, 2, 1
    msg.instances = [inst, Instance(label=2, object_id='zigzag_bracket', score=0.5)]
    return msg


MESSAGES = [
    ('poses', ObjectPoseArray, _pose_array),
    ('instances', InstanceSegmentation, _segmentation),
    ('model_update', ModelUpdate, lambda: ModelUpdate(model_kind='pose', object_id='gear', version=7,
                                                      path='/tmp/m.pt', sha256='ab' * 32,
                                                      metric_names=['agreement'], metric_values=[0.93])),
    ('bank_statistics', BankStatistics, lambda: BankStatistics(frames=10, candidates=120, accepted=48,
                                                               acceptance_rate=0.375, bytes_used=2 ** 33)),
]


@pytest.mark.parametrize('topic,msg_type,make', MESSAGES, ids=[m[0] for m in MESSAGES])
def test_message_round_trip(ros, topic, msg_type, make):
    server, client = ros
    received = []
    client.create_subscription(msg_type, topic, received.append, QOS)
    pub = server.create_publisher(msg_type, topic, QOS)
    sent = make()
    assert _wait(lambda: pub.get_subscription_count() > 0)
    pub.publish(sent)
    assert _wait(lambda: received), f'nothing received on {topic}'
    got = received[0]
    for name in msg_type.get_fields_and_field_types():
        a, b = getattr(got, name), getattr(sent, name)
        if name == 'poses':
            assert got.poses[0] == sent.poses[0] and got.poses[1].d_mask != got.poses[1].d_mask  # NaN kept
        else:
            assert a == b, name


def test_trigger_service_and_remove_instance(ros):
    server, client = ros
    jobs = []

    def trigger(req, res):
        if jobs:
            res.accepted, res.reason = False, f'job {jobs[0]} is running'
        else:
            jobs.append(f'job-{req.iterations}-{req.selection}')
            res.accepted, res.job_id, res.reason = True, jobs[0], 'started'
        return res

    server.create_service(TriggerSelfTrain, 'self_train', trigger)
    server.create_service(RemoveInstance, 'remove_instance',
                          lambda req, res: RemoveInstance.Response(success=req.instance_id == 3,
                                                                   message=f'removed {req.instance_id}'))
    cli = client.create_client(TriggerSelfTrain, 'self_train')
    assert cli.wait_for_service(timeout_sec=10)
    req = TriggerSelfTrain.Request(iterations=2, selection=TriggerSelfTrain.Request.SELECT_NEW)
    first = cli.call(req, timeout_sec=10)
    second = cli.call(req, timeout_sec=10)
    assert first.accepted and first.job_id == 'job-2-new'
    assert not second.accepted and 'running' in second.reason and second.job_id == ''

    remove = client.create_client(RemoveInstance, 'remove_instance')
    assert remove.wait_for_service(timeout_sec=10)
    assert remove.call(RemoveInstance.Request(instance_id=3), timeout_sec=10).success
    assert not remove.call(RemoveInstance.Request(instance_id=4), timeout_sec=10).success


def test_self_train_action_feedback_result_and_cancel(ros):
    server, client = ros

    def execute(goal_handle):
        for it in range(1, goal_handle.request.iterations + 1):
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                return SelfTrain.Result(success=False, message='cancelled', job_id='j1')
            goal_handle.publish_feedback(SelfTrain.Feedback(job_id='j1', stage='training', iteration=it,
                                                            iterations=goal_handle.request.iterations,
                                                            progress=1.0, accepted_labels=10 * it))
            time.sleep(0.1)
        goal_handle.succeed()
        return SelfTrain.Result(success=True, job_id='j1', model_version=4, checkpoint_path='/m/v4.pt',
                                metric_names=['agreement'], metric_values=[0.9])

    ActionServer(server, SelfTrain, 'self_train', execute_callback=execute,
                 cancel_callback=lambda handle: CancelResponse.ACCEPT)
    action = ActionClient(client, SelfTrain, 'self_train')
    assert action.wait_for_server(timeout_sec=10)

    feedback = []
    send = action.send_goal_async(SelfTrain.Goal(iterations=3), feedback_callback=lambda f: feedback.append(f.feedback))
    assert _wait(send.done)
    handle = send.result()
    assert handle.accepted
    result_future = handle.get_result_async()
    assert _wait(result_future.done)
    result = result_future.result().result
    assert result.success and result.model_version == 4 and list(result.metric_values) == [0.9]
    assert [f.iteration for f in feedback] == [1, 2, 3] and feedback[-1].accepted_labels == 30

    send = action.send_goal_async(SelfTrain.Goal(iterations=50))
    assert _wait(send.done)
    handle = send.result()
    time.sleep(0.25)
    cancel = handle.cancel_goal_async()
    assert _wait(cancel.done) and len(cancel.result().goals_canceling) == 1
    result_future = handle.get_result_async()
    assert _wait(result_future.done)
    assert result_future.result().result.message == 'cancelled'


PUBLISHER = '''
import sys, time, rclpy
from binpick_interfaces.msg import ModelUpdate
rclpy.init()
node = rclpy.create_node('other_process')
pub = node.create_publisher(ModelUpdate, sys.argv[1], 10)
end = time.monotonic() + 20
while time.monotonic() < end:
    pub.publish(ModelUpdate(version=42, sha256='cafe'))
    rclpy.spin_once(node, timeout_sec=0.1)
'''


def test_across_processes(ros, tmp_path):
    _, client = ros
    topic = f'/xproc_{uuid.uuid4().hex[:8]}'
    received = []
    client.create_subscription(ModelUpdate, topic, received.append, 10)
    proc = subprocess.Popen([sys.executable, '-c', PUBLISHER, topic])
    try:
        assert _wait(lambda: received, timeout=20), 'no message from the other process'
        assert received[0].version == 42 and received[0].sha256 == 'cafe'
    finally:
        proc.kill()
        proc.wait()
