"""Unseen-object segmentation, pick cost maps, reconstruction and registration."""
