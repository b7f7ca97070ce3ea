"""Engines that run many cameras somewhere other than this process.

``ray`` (:mod:`streamer.engines.ray`): one Ray actor per camera or file on a Ray cluster
(``pip install "streamer[ray]"``). :mod:`streamer.engines.staging` holds what makes a restarted
camera or a retried file job safe for its outputs; it needs nothing but the standard library
and :mod:`streamer.outputs`.
"""
