"""Instance segmentation, the pose network, and the inference pipeline."""
