"""Notifications (issue 9): webhooks against a real aiohttp receiver, MQTT against Debian's
mosquitto broker (killed and restarted mid-stream), filters and flood limits, the ``notify:``
config, and a whole run on a real clip delivering its line crossings to both.

Servers are real, on 127.0.0.1 and free ports, started and stopped by fixtures
(``tests/notify_servers.py``).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notify_servers import Mosquitto, Receiver, Subscriber, wait_until

from streamer.bus import EventBus
from streamer.config import load_config, settings_from
from streamer.errors import ConfigError
from streamer.notify import Notifications, NotifyConfig, attach
from streamer.notify.base import RecordFilter, Throttle
from streamer.notify.mqtt import MqttNotifier
from streamer.notify.webhook import WebhookNotifier

CROSS = {"event": "cross", "camera": "door", "time": 1.5, "line": "gate", "direction": "in", "track_id": 7,
         "class_id": 0, "label": "person"}


def record(**changes: Any) -> dict[str, Any]:
    return {**CROSS, **changes}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path).start()
    yield server
    server.kill()


def webhook(url: str, **options: Any) -> WebhookNotifier:
    return WebhookNotifier(NotifyConfig(webhook=url, **{"max_backoff": 0.05, **options})).start()


# -- config ------------------------------------------------------------------------------------


def test_notify_entries_from_yaml_with_errors_at_their_line(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("source: a.mp4\nnotify:\n  - webhook: https://user:pw@hooks.example/x?token=t\n"
                    "    events: [cross, enter]\n    min_interval: 30s\n  - mqtt: mqtt://broker:1884\n    qos: 0\n")
    s = load_config(good)
    assert [n.kind for n in s.notify] == ["webhook", "mqtt"]
    assert s.notify[0].events == {"cross", "enter"} and s.notify[0].min_interval == 30.0
    # Nothing secret in what a log or a repr would show.
    shown = s.notify[0].display() + repr(s.notify[0]) + s.notify[1].display()
    assert shown.count("https://hooks.example/...") == 1 and "mqtt mqtt://broker:1884" in shown
    assert "pw" not in shown and "token" not in shown
    for text, expected in [
        ("notify:\n  - webhook: http://h/x\n    qos: 1\n", "bad.yaml:3: notify.0: qos: only for mqtt notifiers"),
        ("notify:\n  - mqtt: mqtt://h\n    timeout: -1\n", "bad.yaml:4: notify.0: Input should be greater than 0"),
        ("notify:\n  - webhook: ftp://h/x\n", "bad.yaml:3: notify.0: webhook must be an http:// or https://"),
        ("notify:\n  - events: [cross]\n", "bad.yaml:3: notify.0: each notify entry is either 'webhook: URL' or 'mqtt: URL'"),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text("source: a.mp4\n" + text)
        with pytest.raises(ConfigError) as info:
            load_config(bad)
        assert str(info.value).startswith(f"{tmp_path}/{expected}"), str(info.value)


def test_cli_options_add_notifiers_and_bad_urls_are_one_line(tmp_path: Path, bikes_clip: Path) -> None:
    from streamer.notify.config import with_cli

    added = with_cli([NotifyConfig(mqtt="mqtt://a")], ("http://h/x",), ("mqtt://b:1883",))
    assert [n.kind for n in added] == ["mqtt", "webhook", "mqtt"]
    with pytest.raises(ConfigError, match=r"^--mqtt mqtt://h/\.\.\.: mqtt: bad port|^--mqtt"):
        with_cli([], (), ("mqtt://u:secret@h:99999/x",))
    r = subprocess.run([sys.executable, "-m", "streamer.cli", "run", str(bikes_clip), "--webhook", "ftp://u:secret@h/x",
                        "--out-dir", str(tmp_path)], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "streamer: error: --webhook ftp://h/...: webhook must be an http:// or https:// URL with a host, got 'ftp://h/...'"]


def test_filters_and_flood_limit() -> None:
    f = RecordFilter(events=frozenset({"cross", "enter"}), cameras=frozenset({"door"}),
                     classes=frozenset({"person", "2"}), zones=frozenset({"gate", "yard"}))
    assert f.accepts(record())
    assert f.accepts(record(event="enter", line=None, zone="yard", label="car", class_id=2))  # class by id
    assert not f.accepts(record(event="loiter"))
    assert not f.accepts(record(camera="garage"))
    assert not f.accepts(record(label="dog", class_id=16))
    assert not f.accepts(record(line="other"))
    assert not f.accepts({"event": "source", "camera": "door", "state": "streaming"})  # no zone, no class
    now = [0.0]
    throttle = Throttle(10.0, clock=lambda: now[0])
    assert throttle.allows(record()) and not throttle.allows(record(direction="out"))  # same camera, kind, line
    assert throttle.allows(record(line="other")) and throttle.allows(record(camera="garage"))
    now[0] = 10.0
    assert throttle.allows(record())


# -- webhook ------------------------------------------------------------------------------------


def test_webhook_posts_json_with_auth_and_headers_and_logs_no_secret(receiver: Receiver, caplog: Any) -> None:
    url = receiver.url("/hook/s3cret-path?token=t0ken").replace("http://", "http://alice:pa55word@")
    bus = EventBus()
    hub = attach([NotifyConfig(webhook=url, headers={"X-Api-Key": "k3y"}, events=["cross"])], bus)
    with caplog.at_level(logging.INFO, logger="streamer"):
        bus.publish(record())
        bus.publish(record(event="appear"))  # filtered out
        bus.publish(record(track_id=8))
        lines = hub.close()
    assert [r.body["track_id"] for r in receiver.requests] == [7, 8]
    first = receiver.requests[0]
    assert first.body == {**CROSS, "wall_time": first.body["wall_time"]}
    assert first.path == "/hook/s3cret-path?token=t0ken"
    assert first.headers["Authorization"] == "Basic YWxpY2U6cGE1NXdvcmQ="  # alice:pa55word
    assert first.headers["X-Api-Key"] == "k3y" and first.headers["Content-Type"] == "application/json"
    assert lines == [f"webhook http://127.0.0.1:{receiver.port}/...: 2 sent"]
    for secret in ("alice", "pa55word", "s3cret", "t0ken", "k3y"):
        assert secret not in caplog.text


def test_webhook_retries_5xx_but_not_4xx(receiver: Receiver, caplog: Any) -> None:
    receiver.statuses.extend([500, 503, 200])
    notifier = webhook(receiver.url())
    notifier.submit(record())
    wait_until(lambda: notifier.sent == 1, what="the third attempt")
    assert len(receiver.requests) == 3 and {json.dumps(r.body) for r in receiver.requests} == {json.dumps(record())}
    receiver.statuses.extend([400, 404])
    with caplog.at_level(logging.WARNING, logger="streamer"):
        notifier.submit(record(track_id=8))
        notifier.submit(record(track_id=9))
        notifier.close(5)
    assert len(receiver.requests) == 5  # one attempt each
    assert (notifier.sent, notifier.rejected, notifier.failed) == (1, 2, 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [(f"webhook http://127.0.0.1:{receiver.port}/...: HTTP 400 Bad Request: not retried (the request "
                         "was refused: check the URL and credentials); further refusals are counted")]


def test_webhook_gives_up_on_a_dead_endpoint_after_its_retries(caplog: Any) -> None:
    dead = Receiver()  # never started: connections are refused
    notifier = webhook(dead.url(), retries=2)
    with caplog.at_level(logging.WARNING, logger="streamer"):
        notifier.submit(record())
        notifier.close(5)
    assert (notifier.sent, notifier.failed) == (0, 1)
    assert "gave up on a record after 3 attempts" in caplog.text


def test_a_hanging_receiver_never_blocks_the_publisher_and_drops_are_counted(receiver: Receiver) -> None:
    receiver.hang.set()
    notifier = webhook(receiver.url(), queue=3, retries=0, timeout=30)
    notifier.submit(record(track_id=0))
    wait_until(lambda: len(receiver.requests) == 1, what="the first request")  # now in flight, hanging
    for i in range(1, 20):
        notifier.submit(record(track_id=i))  # returns at once: the queue keeps the newest 3
    assert notifier.dropped == 16 and len(notifier.queue) == 3
    receiver.hang.clear()
    notifier.close(5)
    assert [r.body["track_id"] for r in receiver.requests] == [0, 17, 18, 19]
    assert notifier.summary().endswith(": 4 sent, 16 dropped")


def test_close_is_bounded_when_the_endpoint_hangs(receiver: Receiver) -> None:
    receiver.hang.set()
    notifier = webhook(receiver.url(), timeout=30)
    for i in range(3):
        notifier.submit(record(track_id=i))
    wait_until(lambda: len(receiver.requests) == 1, what="the first request")
    notifier.close(0.3)
    assert notifier.dropped == 2  # the two still queued; the one in flight is left to its timeout


# -- MQTT ---------------------------------------------------------------------------------------


def mqtt(broker: Mosquitto, **options: Any) -> MqttNotifier:
    notifier = MqttNotifier(NotifyConfig(mqtt=broker.url, **options), reconnect=(0.05, 0.2)).start()
    wait_until(notifier.connected.is_set, what="the notifier's connection")
    return notifier


def test_mqtt_topics_payloads_retained_state_and_counts(broker: Mosquitto) -> None:
    sub = Subscriber(broker.port)
    notifier = mqtt(broker, min_interval=60)
    enter = {"event": "enter", "camera": "front door", "zone": "yard", "track_id": 1, "class_id": 0, "label": "person"}
    for r in [{"event": "source", "camera": "front door", "state": "streaming"}, enter, {**enter, "track_id": 2},
              {**enter, "event": "exit", "track_id": 1, "dwell": 2.5}, record(), record(direction="out")]:
        notifier.submit(r)
    wait_until(lambda: len(sub.payloads("streamer/door/gate/out")) == 1, what="the last count")
    assert sub.records("streamer/door/cross") == [record()]  # the second crossing: held back by min_interval
    assert [r["track_id"] for r in sub.records("streamer/front_door/enter")] == [1]  # likewise
    assert sub.payloads("streamer/front_door/yard/person") == [b"1", b"2", b"1"]  # counts see every record
    assert sub.payloads("streamer/front_door/yard/all") == [b"1", b"2", b"1"]
    assert sub.payloads("streamer/door/gate/in") == [b"1"]
    assert notifier.throttled == 2
    # A subscriber that comes later gets the retained state and availability, no events.
    late = Subscriber(broker.port)
    wait_until(lambda: len(late.messages) == 2, what="the retained messages")
    assert sorted((t, p, retained) for t, p, retained in late.messages) == [
        ("streamer/available", b"online", True), ("streamer/front_door/state", b"streaming", True)]
    notifier.close(5)
    wait_until(lambda: late.payloads("streamer/available")[-1:] == [b"offline"], what="offline")
    sub.close()
    late.close()


def test_mqtt_reconnects_after_the_broker_is_killed_and_restarted(broker: Mosquitto, caplog: Any) -> None:
    notifier = mqtt(broker, prefix="cams")
    sub = Subscriber(broker.port, "cams/#")
    notifier.submit(record(track_id=1))
    wait_until(lambda: len(sub.records("cams/door/cross")) == 1, what="the first record")
    with caplog.at_level(logging.INFO, logger="streamer"):
        broker.kill()
        wait_until(lambda: not notifier.connected.is_set(), what="the notifier to see the loss")
        for i in (2, 3):
            notifier.submit(record(track_id=i))  # waits in the queue
        broker.start()
        wait_until(notifier.connected.is_set, timeout=10, what="the reconnect")
        wait_until(sub.subscribed.is_set, timeout=10, what="the subscriber's reconnect")
        wait_until(lambda: notifier.sent == 3, what="the queued records")  # published after the reconnect
        notifier.submit(record(track_id=4))
        wait_until(lambda: 4 in [r["track_id"] for r in sub.records("cams/door/cross")], what="a record after the restart")
    assert notifier.connections == 2 and notifier.dropped == 0
    assert "lost the broker" in caplog.text and "connected again" in caplog.text
    notifier.close(5)
    sub.close()


def test_mqtt_last_will_says_offline_when_the_process_dies(broker: Mosquitto) -> None:
    sub = Subscriber(broker.port, "streamer/available")
    code = ("import sys, time\nfrom streamer.notify.config import NotifyConfig\nfrom streamer.notify.mqtt import MqttNotifier\n"
            f"n = MqttNotifier(NotifyConfig(mqtt={broker.url!r})).start()\n"
            "n.connected.wait(10)\nprint('up', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        wait_until(lambda: sub.payloads("streamer/available")[-1:] == [b"online"], what="online")
        proc.kill()
        wait_until(lambda: sub.payloads("streamer/available")[-1:] == [b"offline"], what="the last will")
    finally:
        proc.kill()
        proc.wait(5)
        sub.close()


# -- a whole run ----------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_a_run_delivers_its_line_crossings_to_mqtt_and_the_webhook(tmp_path: Path, bikes_clip: Path,
                                                                     broker: Mosquitto, receiver: Receiver) -> None:
    """bikes.mp4's first 45 frames with a vertical line through the middle (as tests/test_monitoring.py;
    the cyclist crosses it at 1.36 s): every ``cross`` record of the events file reaches both, through
    the command line."""
    sub = Subscriber(broker.port)
    config = tmp_path / "run.yaml"
    config.write_text(
        "lines:\n  - {name: middle, units: fraction, start: [0.5, 0], end: [0.5, 1]}\n"
        "events: {snapshots: false, clips: false}\n"
        f"notify:\n  - mqtt: {broker.url}\n    events: [cross]\n")
    r = subprocess.run([sys.executable, "-m", "streamer.cli", "run", str(bikes_clip), "--config", str(config),
                        "--webhook", receiver.url(), "--max-frames", "45", "--no-video", "--no-progress",
                        "--out-dir", str(tmp_path)], check=False, capture_output=True, text=True, timeout=80)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in (tmp_path / "bikes.events.jsonl").read_text().splitlines()]
    crossings = [e for e in events if e["event"] == "cross"]
    assert crossings, "no crossing in the clip: the test needs one"
    key = ("track_id", "direction", "time")
    assert [tuple(e[k] for k in key) for e in sub.records("streamer/bikes/cross")] == [tuple(e[k] for k in key) for e in crossings]
    posted = [q.body for q in receiver.requests if q.body["event"] == "cross"]
    assert [tuple(e[k] for k in key) for e in posted] == [tuple(e[k] for k in key) for e in crossings]
    assert f"webhook http://127.0.0.1:{receiver.port}/...: {len(receiver.requests)} sent" in r.stderr
    sub.close()


def test_notifications_are_shared_by_cameras_with_the_same_entry() -> None:
    entry = {"webhook": "http://127.0.0.1:9/x"}
    cams = [settings_from({"source": f"{n}.mp4", "name": n, "notify": [entry]}) for n in ("a", "b")]
    hub = Notifications.start(cams)
    assert hub is not None and len(hub.notifiers) == 1
    assert Notifications.start([settings_from({"source": "c.mp4"})]) is None
    hub.close(0.1)
