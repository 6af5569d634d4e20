"""Test configuration: DDS discovery stays on this machine, in a domain of its own."""
import os

# Set before anything imports rclpy: without it Fast DDS multicasts discovery out of the machine.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.pop('ROS_STATIC_PEERS', None)
# A per-run domain keeps concurrent test runs (and a live cell) from seeing each other's topics.
os.environ.setdefault('ROS_DOMAIN_ID', str(10 + os.getpid() % 90))
