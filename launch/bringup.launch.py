"""Bring up the binpick cell on a ROS 2 Jazzy install:

    ros2 launch binpick bringup.launch.py use_sim:=true segmentation_checkpoint:=... pose_checkpoint:=...

The nodes, their parameter files and the arguments come from config/graph.yaml, the one definition that
`binpick bringup` (the pip install's way to run the same graph) reads too.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from binpick import graph


def _nodes(context):
    values = {name: LaunchConfiguration(name).perform(context) for name in graph.default_arguments()}
    return [Node(package='binpick', executable=spec.executable, name=spec.name, output='screen',
                 parameters=[str(f) for f in spec.parameter_files] + [spec.parameters])
            for spec in graph.nodes(values)]


def generate_launch_description() -> LaunchDescription:
    arguments = [DeclareLaunchArgument(name, default_value=default, description='see config/graph.yaml')
                 for name, default in graph.default_arguments().items()]
    environment = [SetEnvironmentVariable(k, v) for k, v in graph.dds_environment().items()]
    return LaunchDescription(arguments + environment + [OpaqueFunction(function=_nodes)])
