"""Bring up the binpick cell on a ROS 2 Jazzy install:

    ros2 launch binpick bringup.launch.py use_sim:=true       # the simulated cell, shipped demo models
    ros2 launch binpick bringup.launch.py segmentation_checkpoint:=... pose_checkpoint:=...   # a real cell

The nodes, their parameter files and the arguments come from config/graph.yaml, the one definition that
`binpick bringup` (the pip install's way to run the same graph) reads too.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from binpick import graph
from launch import LaunchDescription


def _nodes(context):
    defaults = graph.default_arguments()
    unknown = sorted(set(context.launch_configurations) - set(defaults))
    if unknown:
        raise RuntimeError(f'bringup.launch.py: unknown launch argument(s): {", ".join(unknown)}; '
                           f'declared: {", ".join(defaults)} (config/graph.yaml)')
    values = {name: LaunchConfiguration(name).perform(context) for name in defaults}
    # use_sim:=true without checkpoints runs the shipped demo models, as `binpick bringup --sim` does
    values = graph.with_sim_defaults(values, {k for k, v in values.items() if v != defaults[k]})
    # a node that exits stops the whole cell, as `binpick bringup` does; the launch log names it
    return [Node(package='binpick', executable=spec.executable, name=spec.name, output='screen',
                 parameters=[str(f) for f in spec.parameter_files] + [spec.parameters],
                 remappings=list(spec.remappings.items()),
                 on_exit=Shutdown(reason=f'node {spec.name} exited'), sigterm_timeout=str(graph.STOP_GRACE_S))
            for spec in graph.nodes(values)]


def generate_launch_description() -> LaunchDescription:
    arguments = [DeclareLaunchArgument(name, default_value=default, description='see config/graph.yaml')
                 for name, default in graph.default_arguments().items()]
    environment = [SetEnvironmentVariable(k, v) for k, v in graph.node_environment().items()]
    return LaunchDescription(arguments + environment + [OpaqueFunction(function=_nodes)])
