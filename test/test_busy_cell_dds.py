"""A cell on a busy machine answers: ``sim_cell`` in its own process, refilling its bin (settling a full bin
with physics) on every capture, both cores taken by other processes, and its parameters set over DDS."""
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

rclpy = pytest.importorskip('rclpy')
from conftest import CELL_OBJECT as OBJECT  # noqa: E402
from conftest import kill_tree  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402
from test_bringup import _cpu_hog  # noqa: E402
from test_cell_dds import wait_for  # noqa: E402

from binpick.nodes import base  # noqa: E402
from binpick_interfaces.msg import ObjectPoseArray  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def _sim_cell(tmp_path, ns: str) -> subprocess.Popen:
    params = tmp_path / 'params.yaml'
    params.write_text(f"""/**:
  ros__parameters:
    object_id: {OBJECT}
    width: 160
    height: 120
    fx: 154.0
    fy: 154.0
    cx: 79.5
    cy: 59.5
/**/sim_cell:
  ros__parameters:
    period_s: 0.05
    fill: full
    refill_every: 1
""")
    return subprocess.Popen([str(Path(sys.executable).parent / 'sim_cell'), '--ros-args', '--params-file',
                             str(params), '-r', f'__ns:={ns}'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, 'PYTHONUNBUFFERED': '1'})


def test_sim_cell_answers_parameter_sets_while_it_refills_on_a_busy_machine(tmp_path):
    """Every capture refills the bin, so the physics thread is always mid-refill; with both cores busy, each
    parameter set is still answered within 5 s (a capture's refill under that load takes longer), and the
    value is the node's."""
    ns = f'/busy{uuid.uuid4().hex[:8]}'
    proc = _sim_cell(tmp_path, ns)
    hogs = _cpu_hog()
    rclpy.init()
    probe = rclpy.create_node('probe', namespace=ns)
    try:
        stamps: list[float] = []
        probe.create_subscription(ObjectPoseArray, base.GROUND_TRUTH, lambda m: stamps.append(time.monotonic()),
                                  base.RELIABLE_QOS)
        client = AsyncParameterClient(probe, 'sim_cell')

        def spin_until(predicate, timeout: float) -> bool:
            return wait_for(lambda: rclpy.spin_once(probe, timeout_sec=0.05) or predicate(), timeout, step=0.0)

        assert spin_until(lambda: len(stamps) >= 2, 180), 'sim_cell published no captures'
        capture_s = stamps[-1] - stamps[-2]    # one refill of a full bin under this load
        replies = []
        for value in (3, 2, 1):
            t0 = time.monotonic()
            future = client.set_parameters([Parameter('refill_every', value=value)])
            assert spin_until(future.done, 60), f'no reply to refill_every = {value} within 60 s'
            replies.append(time.monotonic() - t0)
            assert future.result().results[0].successful
            got = client.get_parameters(['refill_every'])
            assert spin_until(got.done, 60)
            assert got.result().values[0].integer_value == value
            refused = client.set_parameters([Parameter('refill_every', value=-1)])
            assert spin_until(refused.done, 60)
            assert not refused.result().results[0].successful
            assert 'refill_every must be an integer >= 0' in refused.result().results[0].reason
    finally:
        for p in hogs:
            p.kill()
            p.wait()
        probe.destroy_node()
        rclpy.shutdown()
        kill_tree(proc)
    assert max(replies) < 5.0, (replies, capture_s)
