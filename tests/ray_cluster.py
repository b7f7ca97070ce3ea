"""A real local Ray cluster for the tests: ``ray start --head`` and worker nodes joined to it.

Not a test module. Each node is its own ``ray start`` process group with its own temporary
folder, advertised on its own loopback address (head 127.0.0.2, workers 127.0.0.3, ...): Ray
replaces 127.0.0.1 and ``localhost`` with the machine's network address, other loopback
addresses are kept, so no traffic leaves the loopback interface and the nodes look like
separate machines to the scheduler.

``ray stop`` stops every Ray process on the machine (it has no option to limit it), so the
cluster is stopped the way ``ray stop --force`` does it (SIGKILL) but only for the processes
these nodes started: each node's process group and every descendant of it (the raylet puts
each worker in a process group of its own), collected before anything is killed.

Facts measured on the 2-core machine, loaded by other jobs (Ray 2.60, base install):

* ``ray start --head`` takes 10-13 s (the GCS is up in 0.1 s; the Python agents it starts,
  dashboard agent and runtime-env agent, take the rest); a worker node joins in about 6-8 s.
* ``import ray`` takes about 1 s; a driver's ``ray.init(address=...)`` about 1.3 s.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from rtsp import free_port

HEAD_IP = "127.0.0.2"
START_TIMEOUT_S = 90.0
#: Small object stores (Ray's minimum is 75 MiB): camera actors exchange only figures.
OBJECT_STORE_BYTES = 100 * 1024 * 1024
#: Node-failure detection faster than Ray's default (3 s period x 5 failures = 15 s): the GCS
#: checks each raylet every 0.5 s and declares it dead after 3 failed checks.
FAST_FAILURE_ENV = {
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
    "RAY_health_check_initial_delay_ms": "0",
}


def ray_unavailable() -> str | None:
    """Why a Ray cluster cannot be started here, or None."""
    # Found, not imported: every pytest-xdist worker collects this module, and ``import ray``
    # costs each of them 0.3-0.6 s of CPU that only the worker running the Ray tests needs.
    if importlib.util.find_spec("ray") is None:
        return 'ray not installed (pip install -e ".[test,ray]")'
    if shutil.which("ray") is None and not (Path(sys.executable).parent / "ray").exists():
        return "the ray command is not on PATH"
    return None


def _ray_command() -> str:
    beside = Path(sys.executable).parent / "ray"
    return str(beside) if beside.exists() else "ray"


@dataclass
class RayNode:
    """One ``ray start`` of the cluster: its address, temporary folder and process group."""

    ip: str
    temp_dir: Path
    pgid: int
    head: bool
    log: str = ""
    killed: bool = False

    def processes(self) -> list[psutil.Process]:
        """Every live process of this node: its process group and their descendants."""
        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) == self.pgid:
                    found[proc.pid] = proc
                    for child in proc.children(recursive=True):
                        found[child.pid] = child
            except (ProcessLookupError, psutil.Error):
                continue
        return list(found.values())

    def raylet(self) -> psutil.Process | None:
        for proc in self.processes():
            try:
                if proc.name() == "raylet":
                    return proc
            except psutil.Error:
                continue
        return None


@dataclass
class RayCluster:
    """A head node and worker nodes on this machine; always :meth:`stop` it (``with`` does)."""

    env: dict[str, str] = field(default_factory=dict)
    nodes: list[RayNode] = field(default_factory=list)
    port: int | None = None
    #: Token authentication with a token of its own (Ray's default since 2.5x for a cluster
    #: that ``ray.init`` starts; a token left in ~/.ray/auth_token turns it on for ``ray start``
    #: too): drivers need :attr:`client_env`. Nothing depends on the machine's ~/.ray.
    token: str = field(default_factory=lambda: secrets.token_hex(32))

    @property
    def client_env(self) -> dict[str, str]:
        """Environment a driver (``streamer run --address``) needs to join this cluster."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    @property
    def address(self) -> str:
        if self.port is None:
            raise RuntimeError("the head node is not started")
        return f"{HEAD_IP}:{self.port}"

    def _start(self, ip: str, num_cpus: float, extra: list[str]) -> RayNode:
        # Short paths: Ray's Unix socket paths live under the temporary folder (108-byte limit).
        temp_dir = Path(tempfile.mkdtemp(prefix="streamer-ray-", dir="/tmp"))
        argv = [_ray_command(), "start", f"--node-ip-address={ip}", f"--num-cpus={num_cpus:g}",
                f"--temp-dir={temp_dir}", f"--object-store-memory={OBJECT_STORE_BYTES}",
                "--disable-usage-stats", f"--dashboard-agent-listen-port={free_port()}",
                f"--dashboard-agent-grpc-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
                f"--metrics-export-port={free_port()}", *extra]
        env = {**os.environ, **self.env, **self.client_env, "RAY_USAGE_STATS_ENABLED": "0"}
        # Its own session: the node's processes are one process group, found and killed as one.
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, start_new_session=True)
        node = RayNode(ip, temp_dir, proc.pid, head=not self.nodes)
        self.nodes.append(node)
        try:
            out, _ = proc.communicate(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            raise RuntimeError(f"ray start did not finish in {START_TIMEOUT_S:.0f} s:\n{out}") from None
        node.log = out
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed ({proc.returncode}):\n{out}")
        return node

    def start_head(self, num_cpus: float = 1) -> RayCluster:
        self.port = free_port()
        self._start(HEAD_IP, num_cpus, ["--head", f"--port={self.port}", "--include-dashboard=false",
                                        f"--ray-client-server-port={free_port()}"])
        return self

    def add_worker(self, num_cpus: float = 1) -> RayNode:
        """Join a worker node, on the next loopback address (127.0.0.3, ...)."""
        ip = f"127.0.0.{len(self.nodes) + 2}"
        return self._start(ip, num_cpus, [f"--address={self.address}"])

    def kill_raylet(self, node: RayNode) -> int:
        """SIGKILL the node's raylet, as if the machine was lost; returns its PID."""
        raylet = node.raylet()
        if raylet is None:
            raise RuntimeError(f"no raylet found for node {node.ip}")
        raylet.send_signal(signal.SIGKILL)
        node.killed = True
        return raylet.pid

    def stop(self) -> None:
        """SIGKILL every process of every node (and nothing else); remove the temporary folders."""
        procs = [p for node in self.nodes for p in node.processes()]
        for node in self.nodes:
            try:
                os.killpg(node.pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for p in procs:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=10)
        for node in self.nodes:
            shutil.rmtree(node.temp_dir, ignore_errors=True)

    def __enter__(self) -> RayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_nodes(address: str, count: int, timeout: float = 30.0) -> None:
    """Wait until ``count`` nodes are alive (from a driver connected to ``address``)."""
    import ray

    deadline = time.monotonic() + timeout
    while sum(1 for n in ray.nodes() if n["Alive"]) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{address}: fewer than {count} live nodes after {timeout} s")
        time.sleep(0.2)
