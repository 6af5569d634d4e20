"""Pose verification scores, pseudo-label selection, and the teacher-student loop."""

# the perceptual distances of d_image (binpick.selftrain.perceptual); light, for the command line
PERCEPTUAL_BACKENDS = ('auto', 'lpips-alex', 'st-lpips-alex', 'effnet-lite0')
