"""ament_python / pip package of binpick.

Installed by colcon in a ROS 2 workspace, or by ``pip install -e src/binpick`` (what ``make setup``
does). The launch files and parameter files live at the repository root and are installed into
``share/binpick`` from there.
"""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'binpick'
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.relpath(os.path.join(HERE, '..', '..'), HERE)


def _files(pattern: str) -> list[str]:
    return sorted(glob(os.path.join(ROOT, pattern)))


setup(
    name=PACKAGE,
    version='0.3.0',
    packages=find_packages(exclude=['test']),
    package_data={'binpick.catalog': ['builtin/*.yaml', 'builtin/*.json', 'builtin/models/*.ply',
                                      'builtin/grasps/*.yaml', 'builtin/collision/*.obj']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', _files('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config', _files('config/*.yaml') + _files('config/*.xml') + _files('config/*.rviz')),
        ('share/' + PACKAGE + '/models/demo', _files('models/demo/*.pt') + _files('models/demo/*.md')),
    ],
    zip_safe=False,
    maintainer='binpick maintainers',
    description='Self-training 6D pose estimation and bin picking for ROS 2 cells.',
    license='Apache-2.0',
    python_requires='>=3.10',
    entry_points={
        'console_scripts': [
            'binpick = binpick.cli:main',
            # the nodes of the cell (config/graph.yaml); `ros2 run binpick <name>` on a ROS 2 install
            'stereo_camera = binpick.nodes.stereo_camera:main',
            'sim_cell = binpick.nodes.sim_cell:main',
            'segmentation = binpick.nodes.segmentation:main',
            'pose_estimation = binpick.nodes.pose_estimation:main',
            'pseudo_label_recorder = binpick.nodes.pseudo_label_recorder:main',
            'retrainer = binpick.nodes.retrainer:main',
            'grasp_planner = binpick.nodes.grasp_planner:main',
        ],
    },
)
