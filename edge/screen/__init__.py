"""Interactive screens: private face detection, anonymous tracking and audience measures."""
