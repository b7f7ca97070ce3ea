"""Real servers that accept what ``--publish`` pushes, for the tests (not a test module).

* :class:`RecordServer`: ``tests/rtsp_record.py`` (Debian's GStreamer RTSP server with RECORD
  mounts) writing what arrives to ``OUT/MOUNT-N.ts``; process handling is
  :class:`rtsp.RtspServer`'s (own process group, READY line, always stopped, restartable on
  the same port).
* :class:`NginxRtmp`: Debian's ``nginx`` with ``libnginx-mod-rtmp``, own config, port and
  prefix under the test's folder, ``record all`` into FLV files.

Both bind 127.0.0.1 and are stopped by their fixtures whatever the test did.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import pytest
from rtsp import (
    GST_PYTHON,
    HOST,
    RtspServer,
    free_port,
    gst_elements_missing,
    require_gst_rtsp,
)

RECORD_SCRIPT = Path(__file__).resolve().with_name("rtsp_record.py")
NGINX = Path("/usr/sbin/nginx")
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")


class RecordServer(RtspServer):
    """``rtsp_record.py`` on 127.0.0.1: RECORD mounts whose sessions are written to ``out``."""

    def __init__(self, mounts: list[str], out: Path, *, audio: bool = False, recv_log: Path | None = None) -> None:
        super().__init__({m: "-" for m in mounts})
        self.out, self.audio, self.recv_log = out, audio, recv_log

    def _argv(self, port: int) -> list[str]:
        argv = [str(GST_PYTHON), str(RECORD_SCRIPT), "--port", str(port), "--out", str(self.out)]
        for mount in self.mounts:
            argv += ["--mount", mount]
        if self.recv_log is not None:
            argv += ["--recv-log", str(self.recv_log)]
        return argv + (["--audio"] if self.audio else [])

    def sessions(self) -> list[Path]:
        """The files of the RECORD sessions so far, in order."""
        with self._cond:
            return [Path(line.split()[2]) for line in self._lines if line.startswith("SESSION ")]

    def wait_sessions(self, n: int, timeout: float) -> list[Path]:
        deadline = time.monotonic() + timeout
        while len(self.sessions()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.sessions()


@pytest.fixture
def record_server(tmp_path: Path) -> Iterator[Callable[..., RecordServer]]:
    """A factory: ``record_server(["/live"], port=None, audio=False)`` -> started server."""
    require_gst_rtsp()
    missing = gst_elements_missing(("rtph264depay", "mpegtsmux", "h264parse", "filesink"))
    if missing:
        pytest.skip(f"GStreamer elements missing: {missing}")
    servers: list[RecordServer] = []

    def start(mounts: list[str], *, port: int | None = None, audio: bool = False) -> RecordServer:
        server = RecordServer(mounts, tmp_path / f"received-{len(servers)}", audio=audio)
        servers.append(server)
        return server.start(port)  # type: ignore[return-value]

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
            print(f"--- RTSP record server (port {server.port}) stderr ---\n{server.stderr}")


def settled(path: Path, timeout: float = 10.0) -> Path:
    """``path`` once it exists and its size stopped changing (the server wrote what it got)."""
    deadline, last = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else -1
        if size > 0 and size == last:
            break
        last = size
        time.sleep(0.3)
    return path


def frames_in(path: Path) -> list[av.VideoFrame]:
    """Every decodable frame of a received file (a cut end is fine)."""
    out: list[av.VideoFrame] = []
    try:
        with av.open(str(path)) as c:
            out.extend(c.decode(video=0))
    except av.error.FFmpegError:
        pass  # the end of a stream cut by a killed server
    return out


# -- nginx-rtmp ----------------------------------------------------------------------------------

NGINX_CONF = """\
load_module {module};
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{
            live on;
            record all;
            record_path {prefix}/rec;
            record_unique on;
        }}
    }}
}}
"""


class NginxRtmp:
    """Debian's nginx with the RTMP module: ``rtmp://127.0.0.1:PORT/live/KEY`` recorded to FLV."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> NginxRtmp:
        (self.prefix / "rec").mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(module=RTMP_MODULE, prefix=self.prefix, port=self.port))
        self.proc = subprocess.Popen([str(NGINX), "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.log()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx not listening after 10 s: {self.log()}")

    def url(self, key: str) -> str:
        return f"rtmp://{HOST}:{self.port}/live/{key}"

    def recordings(self) -> list[Path]:
        return sorted((self.prefix / "rec").glob("*.flv"))

    def log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finishes the recordings
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


@pytest.fixture
def nginx_rtmp(tmp_path: Path) -> Iterator[NginxRtmp]:
    """A started nginx-rtmp (skips when Debian's nginx or its RTMP module is missing)."""
    if not NGINX.exists() or not RTMP_MODULE.exists() or shutil.which("nginx") is None:
        pytest.skip("nginx with libnginx-mod-rtmp is not installed (apt-get install nginx libnginx-mod-rtmp)")
    server = NginxRtmp(tmp_path / "nginx").start()
    try:
        yield server
    finally:
        server.stop()
        print(f"--- nginx error.log ---\n{server.log()}")
