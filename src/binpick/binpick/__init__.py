"""binpick: self-training 6D pose estimation and bin picking for ROS 2 cells.

Everything outside ``binpick.nodes`` runs without ROS: numpy arrays and dataclasses in, out.
Units are SI (metres, radians); camera frames follow OpenCV (x right, y down, z forward).
"""
__version__ = '0.3.0'
