"""Physics-settled bins, rendering, sensor models (stereo depth), domain settings."""
