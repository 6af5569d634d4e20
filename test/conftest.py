"""Test configuration: DDS discovery stays on this machine, in a domain of its own."""
import os

# Set before anything imports rclpy: without it Fast DDS multicasts discovery out of the machine.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.pop('ROS_STATIC_PEERS', None)
# A per-run domain keeps concurrent test runs (and a live cell) from seeing each other's topics.
os.environ.setdefault('ROS_DOMAIN_ID', str(10 + os.getpid() % 90))


def small_synth_dataset(out, object_name: str, width: int, seed: int, scenes: int = 2, domain: str = 'synthetic'):
    """A tiny BOP dataset of ``domain`` (``scenes`` train scenes + 1 test scene, one frame each, low
    bins) seen by a ``width`` x 3/4 ``width`` camera; returns its folder."""
    import dataclasses

    from binpick.catalog import Catalog
    from binpick.sim.camera import PinholeCamera
    from binpick.sim.generator import CellConfig
    from binpick.sim.synth import SynthRequest, run

    f, h = 0.9625 * width, width * 3 // 4
    cell = dataclasses.replace(CellConfig.from_config(),
                               camera=PinholeCamera.from_params(f, f, (width - 1) / 2, (h - 1) / 2, width, h))
    run(SynthRequest(object_name, domain, scenes, 1, 1, 'low', seed), out, cell, Catalog(), progress=False)
    return out
