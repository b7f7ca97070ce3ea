"""Detectors shared by the cameras of a Ray node: ``--ray-detectors auto|node|camera``.

``camera``: each camera's actor holds a detector service of its own (frames never leave it).
``node``: one detector actor per node (and detector configuration) holds a
:class:`~streamer.detection.service.DetectorService` that batches the frames of every camera on
that node, with the same fair turns and paced intervals as in one process. ``auto`` (the
default): ``node`` on nodes that have a GPU in Ray's resources, ``camera`` elsewhere.

Why both. On the 2-core CPU machine batching buys nothing (YOLOX-Nano 15.53 ms per image at
batch 1, 15.79 at batch 4) and every frame then crosses processes; on a GPU one inference of
8 frames costs little more than one of 1, and a GPU per camera actor is not to be had: there
the node's detector is what makes the GPU pay (see ``GPU_BATCH`` in
:mod:`streamer.detection.service`).

What crosses: the camera prepares its frame (letterbox, colour order, scaling into the
model's float32 input, :func:`~streamer.detection.detector.prepare_input`) and sends that
with its :class:`~streamer.detection.detector.Transform`; the node's worker runs the model
and decodes, so boxes come back in frame pixels, a few hundred bytes. Results equal those
of a camera's own detector (same input tensor, same session). Cost measured by
``scripts/bench_ray.py --transport``.

Placement and ownership. A camera asks for its node's detector in its poll answer
(``wants_detector``); the driver creates it (:class:`NodeDetectors`), named after the run,
the node and the detector configuration, pinned to that node
(``NodeAffinitySchedulingStrategy``, not soft), owned by the driver: it ends with the run,
also when the driver is killed. The camera finds it by name.

Failure. A node detector actor that dies is restarted by Ray (``max_restarts``) on its node;
requests in flight fail at once (``max_task_retries=0``) and the cameras pass frames on
without new detections, retrying with backoff until it answers again
(:mod:`streamer.engines.detector_link`). A lost node loses its detector with its cameras;
the cameras restarted on survivors ask for the detector there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import uuid
from typing import Any

from streamer.config import RunSettings
from streamer.detection.detections import Detections
from streamer.detection.service import DetectorClient, DetectorService, Prepared

log = logging.getLogger("streamer")

#: Ray namespace of the run's actors (cameras and detectors).
NAMESPACE = "streamer"
MODES = ("auto", "node", "camera")


@dataclasses.dataclass(frozen=True)
class DetectorPlan:
    """What a camera's actor needs to find its node's detector: the run and the mode."""

    run: str
    mode: str

    def on_node(self, node_id: str, device: str) -> bool:
        """Whether a camera on ``node_id`` detects through the node's detector actor."""
        if self.mode != "auto":
            return self.mode == "node"
        return device != "cpu" and node_gpus(node_id) > 0


def node_gpus(node_id: str) -> float:
    """GPUs of a node in Ray's resources (0 when unknown)."""
    import ray

    for n in ray.nodes():
        if n.get("NodeID") == node_id:
            return float(n.get("Resources", {}).get("GPU", 0.0))
    return 0.0


def detector_key(settings: RunSettings) -> str:
    """A short name for a detector configuration (cameras that agree on it share an actor)."""
    from streamer.fleet import detector_key as key

    return hashlib.sha1(key(settings).encode()).hexdigest()[:10]


def actor_name(run: str, node_id: str, key: str) -> str:
    return f"detector-{run}-{node_id[:16]}-{key}"


def choice(mode: str, settings: RunSettings, nodes: list[dict[str, Any]]) -> str:
    """The start-up line: where detectors run, and why.

    Parameters
    ----------
    mode : {"auto", "node", "camera"}
    settings : RunSettings
        The first camera's (its ``device``).
    nodes : list of dict
        The cluster's nodes as ``ray.nodes()`` lists them (``Alive``, ``Resources``).
    """
    nodes = [n for n in nodes if n.get("Alive")]
    gpus = sum(1 for n in nodes if n.get("Resources", {}).get("GPU", 0) > 0)
    node = "one actor per node batching its cameras' frames"
    camera = "in each camera's actor"
    if mode != "auto":
        return f"detectors: {node if mode == 'node' else camera} (--ray-detectors {mode})"
    if settings.device == "cpu" or not gpus:
        why = "device: cpu" if settings.device == "cpu" else "no node has a GPU in Ray's resources"
        return (f"detectors: {camera} (auto: {why}; on a CPU batching cameras' frames does not pay "
                "and each frame would cross processes; --ray-detectors node to share them)")
    if gpus == len(nodes):
        return f"detectors: {node} (auto: every node has a GPU)"
    return f"detectors: {node} on the {gpus} nodes with a GPU, {camera} on the {len(nodes) - gpus} without (auto)"


class NodeDetector:
    """The detector of one node, shared by its cameras: a Ray actor (async: a request waits
    for the service without holding a thread).

    Parameters
    ----------
    settings : RunSettings
        The detector settings of the cameras it serves (model, device, conf, batch...).
    node : str
        Its node's address, for the figures.
    """

    def __init__(self, settings: RunSettings, node: str) -> None:
        self.node = node
        self.incarnation = uuid.uuid4().hex[:8]
        self.service = DetectorService.from_settings(settings, cameras=[settings]).start()
        self._clients: dict[str, DetectorClient] = {}
        self.served: dict[str, int] = {}  # frames detected per camera, also of cameras that left

    def spec(self) -> dict[str, Any]:
        """What a camera needs of the model without loading it: card, labels, provider."""
        d = self.service.detector
        return {"card": d.card, "provider": d.provider, "precision": d.precision, "path": d.path,
                "resized": d.graph is not None, "workers": self.service.workers, "figures": self.summary()}

    def summary(self) -> dict[str, Any]:
        """The service's batch figures (what each reply carries, ~200 bytes)."""
        s = self.service
        return {"node": self.node, "actor": self.incarnation, "cameras": len(self._clients), "workers": s.workers,
                "max_batch": s.max_batch, "batching": s.batching, "frames": s.frames, "batches": s.batches,
                "ms_per_frame": None if s.ms_per_frame is None else round(s.ms_per_frame, 2)}

    def figures(self) -> dict[str, Any]:
        """The summary, frames detected per camera served (``served``) and the figures of each
        camera still connected (``clients``, as :meth:`DetectorService.figures`)."""
        return {**self.summary(), "served": dict(self.served), "clients": [c.figures() for c in self.service.clients]}

    def _client(self, join: tuple[str, float, int, int, bool]) -> DetectorClient:
        name, priority, every, every_max, adaptive = join
        client = self._clients.get(name)
        if client is None:  # a new camera, or this actor was restarted and lost its clients
            client = self.service.client(name, priority=priority, every=every, every_max=every_max, adaptive=adaptive)
            self._clients[name] = client
        return client

    async def detect(self, join: tuple[str, float, int, int, bool], prepared: Prepared,
                     arrivals: tuple[int, float, int] | None) -> tuple[Detections, int, dict[str, Any]]:
        """Detections of one prepared frame of camera ``join[0]``, its interval now, the summary.

        ``arrivals``: (newest index, its capture time, frames counted) since the camera's last
        request, for the pacing of its interval.
        """
        client = self._client(join)
        if arrivals is not None and arrivals[2]:
            client.count(*arrivals)
        detections = await asyncio.wrap_future(client.submit(prepared))
        self.served[join[0]] = self.served.get(join[0], 0) + 1
        return detections, client.interval, self.summary()

    def leave(self, name: str) -> None:
        client = self._clients.pop(name, None)
        if client is not None:
            client.close()


_ACTOR: Any = None


def _actor_class() -> Any:
    global _ACTOR
    if _ACTOR is None:
        import ray

        _ACTOR = ray.remote(NodeDetector)
    return _ACTOR


class NodeDetectors:
    """The driver's node detector actors: created when a camera asks, ended with the run.

    Parameters
    ----------
    plan : DetectorPlan
    configurations : int
        Distinct detector configurations among the run's cameras (actors per node at most).
    """

    def __init__(self, plan: DetectorPlan, configurations: int = 1) -> None:
        self.plan = plan
        #: A GPU node's share for each detector configuration's actor (several fit on one GPU).
        self.gpu_share = 1.0 / max(1, configurations)
        self.actors: dict[tuple[str, str], Any] = {}
        self.nodes: dict[tuple[str, str], str] = {}

    def ensure(self, node_id: str, key: str, settings: RunSettings) -> None:
        """The detector of ``key`` on ``node_id`` exists (pinned there, restarted if it dies)."""
        if (node_id, key) in self.actors:
            return
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = next((n for n in ray.nodes() if n.get("NodeID") == node_id), {})
        gpu = settings.device != "cpu" and node.get("Resources", {}).get("GPU", 0) > 0
        self.nodes[(node_id, key)] = str(node.get("NodeManagerAddress", node_id[:8]))
        self.actors[(node_id, key)] = _actor_class().options(
            name=actor_name(self.plan.run, node_id, key), namespace=NAMESPACE, get_if_exists=True,
            # Its cameras reserve the node's CPUs (the detection work included, as with a
            # detector in each camera); a reservation here could leave it unplaceable on a
            # node they fill. On a GPU node it reserves a GPU, shared by the run's detector
            # configurations (Ray hides GPUs from actors that reserve none).
            num_cpus=0, num_gpus=self.gpu_share if gpu else 0,
            max_restarts=-1, max_task_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        ).remote(settings, self.nodes[(node_id, key)])
        log.info("detector actor for the cameras on %s started", self.nodes[(node_id, key)])

    def report(self, timeout: float = 2.0) -> list[str]:
        """One line per detector actor: the cameras it served, frames and batches."""
        import ray

        lines = []
        for ref in [a.figures.remote() for a in self.actors.values()]:
            try:
                f = ray.get(ref, timeout=timeout)
            except Exception:  # noqa: BLE001, S112 - a dead node's detector: nothing to report
                continue
            names = ", ".join(f"{name} {n}" for name, n in sorted(f["served"].items()))
            batch = f"batches of up to {f['max_batch']}" if f["batching"] else "one frame per inference"
            lines.append(f"detector on {f['node']} (actor {f['actor']}): served {len(f['served'])} "
                         f"camera{'s' if len(f['served']) != 1 else ''} ({names}), {f['frames']} frames in "
                         f"{f['batches']} inferences, {batch}")
        return lines

    def release(self) -> None:
        import ray

        for actor in self.actors.values():
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001, S110 - already gone
                pass
        self.actors.clear()
