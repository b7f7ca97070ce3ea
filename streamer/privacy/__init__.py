"""Privacy (issue 9): faces (and optionally whole persons) blurred or pixelated before any output.

- :mod:`~streamer.privacy.config`: the ``privacy:`` settings (``--blur-faces``);
- :mod:`~streamer.privacy.stage`: the stage after the detector and analytics, before the
  overlay and every output, and the face detector it runs (CenterFace, ``models/centerface.onnx``).
"""

from streamer.privacy.config import PrivacyConfig

__all__ = ["PrivacyConfig"]
