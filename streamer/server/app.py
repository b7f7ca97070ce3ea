"""The HTTP application of ``--serve``: routes, authentication, the dashboard's files.

=============================  ===============================================================
route                          what
=============================  ===============================================================
``/``                          the dashboard (static HTML, JS and CSS shipped with the package)
``/cameras/NAME/live.mjpg``    MJPEG stream (``multipart/x-mixed-replace``), at most
                               ``max_viewers`` per camera (503 beyond)
``/cameras/NAME/snapshot.jpg`` the newest frame; ``?after=SEQ`` waits for a newer one
``/hls/NAME/FILE``             the camera's HLS folder (``--hls``), nothing outside it
``/metrics``                   Prometheus text format (:mod:`streamer.metrics`)
``/api/status``                JSON: every camera's state and figures
``/healthz``                   200 while the process serves (never needs the token)
``/readyz``                    200 when every camera is streaming or finished, else 503
=============================  ===============================================================

With a token, every route but ``/healthz`` needs it: ``Authorization: Bearer TOKEN``, or
basic auth with TOKEN as the password (any user name: browsers ask for it and then send it
with every request of the page, images included), or ``?token=TOKEN`` once, which sets a
session cookie (an HMAC of the token, never the token) and, for a page, redirects to the same
address without the token. The access log is off: request lines can hold ``?token=``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import mimetypes
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from streamer.server import live
from streamer.server.board import Board
from streamer.server.live import BOARD, HUBS, METRICS

if TYPE_CHECKING:
    from streamer.metrics import Metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COOKIE = "streamer_session"
#: Everything the dashboard loads comes from this server: no CDN, font or script elsewhere.
CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
STATIC = {"index.html": "text/html", "dashboard.js": "text/javascript", "dashboard.css": "text/css",
          "favicon.svg": "image/svg+xml"}
HLS_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".m4s": "video/iso.segment",
             ".mp4": "video/mp4", ".aac": "audio/aac", ".vtt": "text/vtt"}


def _session(token: str) -> str:
    return hmac.new(token.encode(), b"streamer-dashboard-session", hashlib.sha256).hexdigest()


def _authorised(request: web.Request, token: str) -> bool:
    def same(given: str) -> bool:
        return hmac.compare_digest(given.encode(), token.encode())

    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and same(value.strip()):
        return True
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if same(password):
            return True
    if "token" in request.query and same(request.query["token"]):
        return True
    cookie = request.cookies.get(COOKIE)
    return cookie is not None and hmac.compare_digest(cookie.encode(), _session(token).encode())


def auth_middleware(token: str | None) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token is None or request.path == "/healthz":
            return await handler(request)
        if not _authorised(request, token):
            return web.Response(status=401, text="unauthorised: this server needs its token (Authorization: Bearer "
                                "TOKEN, basic auth with TOKEN as the password, or ?token=TOKEN)\n",
                                headers={"WWW-Authenticate": 'Basic realm="streamer", charset="UTF-8"'})
        if "token" in request.query:
            # Once is enough: a cookie carries the session; a page drops the token from its address.
            if request.method == "GET" and request.path == "/":
                kept = [(k, v) for k, v in request.rel_url.query.items() if k != "token"]
                response: web.StreamResponse = web.Response(
                    status=303, headers={"Location": str(request.rel_url.with_query(kept))})
            else:
                response = await handler(request)
            if not response.prepared:  # a stream (MJPEG) has sent its headers by now
                response.set_cookie(COOKIE, _session(token), httponly=True, samesite="Strict", path="/")
            return response
        return await handler(request)

    return auth


def _secure(response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.content_type == "text/html":
        response.headers["Content-Security-Policy"] = CSP


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure(exc)
        raise
    if not response.prepared:  # a stream (MJPEG) sent its headers already
        _secure(response)
    return response


def _static(name: str) -> Handler:
    body = resources.files("streamer.server").joinpath("static", name).read_bytes()

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=STATIC[name], headers={"Cache-Control": "no-cache"})

    return serve


async def status_route(request: web.Request) -> web.Response:
    board: Board = request.app[BOARD]
    return web.json_response(board.status(), headers={"Cache-Control": "no-store"})


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    board: Board = request.app[BOARD]
    ready, states = board.ready()
    return web.Response(status=200 if ready else 503, content_type="application/json",
                        text=json.dumps({"ready": ready, "cameras": states}))


async def metrics_route(request: web.Request) -> web.Response:
    registry: Metrics | None = request.app[METRICS]
    if registry is None:
        raise web.HTTPNotFound(text="no metrics\n")
    body, content_type = registry.exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def hls(request: web.Request) -> web.FileResponse:
    """A file of a camera's HLS folder; nothing outside that folder, no hidden files."""
    board: Board = request.app[BOARD]
    name = request.match_info["camera"]
    entry = board.camera(name)
    if entry is None or entry.hls_dir is None:
        raise web.HTTPNotFound(text=f"camera {name}: no HLS output (--hls)\n")
    relative = request.match_info["path"]
    root = entry.hls_dir.resolve()
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or any(p in ("..", ".") or p.startswith(".") for p in parts):
        raise web.HTTPNotFound(text="not found\n")
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise web.HTTPNotFound(text="not found\n")
    content_type = HLS_TYPES.get(target.suffix.lower()) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    # Playlists change every segment; segments never change once listed.
    cache = "no-cache" if target.suffix.lower() == ".m3u8" else "max-age=60"
    return web.FileResponse(target, headers={"Content-Type": content_type, "Cache-Control": cache})


def build_app(board: Board, *, metrics: Metrics | None = None, token: str | None = None) -> web.Application:
    """The application; ``app[HUBS]`` (camera name -> :class:`~streamer.server.live.Hub`) is
    filled by the server thread once its loop runs."""
    app = web.Application(middlewares=[headers_middleware, auth_middleware(token)])
    app[BOARD] = board
    app[METRICS] = metrics
    app[HUBS] = {}
    app.router.add_get("/", _static("index.html"))
    for name in STATIC:
        if name != "index.html":
            app.router.add_get(f"/static/{name}", _static(name))
    app.router.add_get("/api/status", status_route)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_route)
    app.router.add_get("/cameras/{camera}/live.mjpg", live.mjpeg)
    app.router.add_get("/cameras/{camera}/snapshot.jpg", live.snapshot)
    app.router.add_get("/hls/{camera}/{path:.+}", hls)
    return app
