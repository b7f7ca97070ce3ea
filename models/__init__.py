"""Bundled model files and their cards (installed as ``streamer.models``)."""
