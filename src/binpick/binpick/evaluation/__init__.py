"""Pose metrics (ADD, ADD-S), recall, reports and plots."""
