"""Pose verification scores, pseudo-label selection, and the teacher-student loop."""
