"""``--serve``: the built-in HTTP server (dashboard, live views, HLS, /metrics, /api/status).

Importing this package imports nothing heavy; :mod:`streamer.server.attach` wires a run to it.
"""
