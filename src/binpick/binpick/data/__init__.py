"""Datasets: BOP folders, pseudo-label bank, rosbag2 bags; atomic file writes."""
