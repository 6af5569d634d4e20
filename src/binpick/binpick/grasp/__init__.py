"""Parallel-jaw grasps defined in the object frame: sets, sampling, pose -> grasp, ranking (candidates)."""
