"""The cell with the simulated bin instead of hardware: bringup.launch.py with use_sim:=true."""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    bringup = os.path.join(get_package_share_directory('binpick'), 'launch', 'bringup.launch.py')
    return LaunchDescription([IncludeLaunchDescription(PythonLaunchDescriptionSource(bringup),
                                                       launch_arguments={'use_sim': 'true'}.items())])
