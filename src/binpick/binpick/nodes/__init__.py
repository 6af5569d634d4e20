"""rclpy nodes: thin adapters between ROS 2 messages and the library. Only here is ROS imported."""
