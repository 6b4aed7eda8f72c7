"""Fleet health: `telemetry/health` reaches HQ with the documented fields and is coalesced while offline; `/metrics` parses; the esl counts and the outbox age are true."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from edge import catalog, fleet
from edge.esl import fleet as esl_fleet
from edge.jobs import schemas
from edge.store import Store, Tx
from edge.web.metrics import render
from tests.conftest import wait_online
from tests.edge.sync.test_delivery import emit_from_job
from tests.helpers.proxy import CuttableProxy

REPO = Path(__file__).resolve().parents[2]

INTERVAL_S = 5


def _health(hq) -> list[dict]:  # noqa: ANN001
    """Every `telemetry/health` message headquarters got."""
    return [json.loads(p) for t, p, _ in list(hq.messages) if t.endswith("/telemetry/health")]


def _get(url: str, token: str | None = "s3cret") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def _daemon(tmp_path, broker, daemon_factory, url: str | None = None):  # noqa: ANN001, ANN202
    """A daemon with the web server and a short health interval, on `url` (default: the broker itself)."""
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    token.chmod(0o600)
    return daemon_factory(url or broker.url, http={"listen": "127.0.0.1:0", "token_file": str(token)},
                          telemetry={"health_interval_s": INTERVAL_S}).start()


def test_health_reaches_hq_with_the_documented_fields(tmp_path, broker, daemon_factory, hq_factory):
    daemon = _daemon(tmp_path, broker, daemon_factory)
    hq = hq_factory(broker.port)
    wait_online(hq)
    body = hq.wait(lambda _: (found := _health(hq)) and found[-1], timeout=INTERVAL_S + 10)
    assert set(body) >= {"ts", "sampled_at", "store_id", "version", "uptime_s", "cpu", "memory", "disk", "outbox", "link", "jobs"}
    assert body["store_id"] == "s1" and body["link"]["state"] == "connected"
    assert body["config"]["source"] == "local" and body["config"]["version"] == 0 and len(body["config"]["sha256"]) == 64
    assert body["memory"]["rss_bytes"] > 10_000_000 and body["memory"]["system_available_bytes"] > 0
    assert body["disk"]["data_free_bytes"] > 0 and body["cpu"]["process_pct"] >= 0
    assert body["outbox"]["depth"] == 0 and body["outbox"]["oldest_age_s"] is None
    documented = json.loads(re.search(r"### Telemetry `telemetry/health`.*?```json\n(.*?)\n```", (REPO / "docs/mqtt-api.md").read_text(),
                                      re.S).group(1))
    assert set(body) == set(documented)  # the page's example has every field, and only those
    for key in ("config", "cpu", "memory", "disk", "outbox", "link"):
        assert set(body[key]) == set(documented[key]), key
    retained = [r for t, _, r in hq.messages if t.endswith("/telemetry/health")]
    assert not any(retained)
    daemon.terminate()


def test_health_is_coalesced_while_the_link_is_down(tmp_path, broker, daemon_factory, hq_factory):
    # Only the daemon's path is cut (HQ stays subscribed: a restarted broker would race HQ's own resubscription against
    # the daemon's first QoS 0 sample, and lose it now and then under load).
    proxy = CuttableProxy(broker.port)
    daemon = _daemon(tmp_path, broker, daemon_factory, f"mqtt://127.0.0.1:{proxy.port}")
    hq = hq_factory(broker.port, client_id="hq-health")
    wait_online(hq)
    proxy.reset(refuse=True)
    down_at = datetime.now().astimezone()
    time.sleep(INTERVAL_S * 2.6)  # two or three samples taken while offline
    proxy.restore()
    up_at = datetime.now().astimezone()
    late = hq.wait(lambda _: [h for h in _health(hq) if datetime.fromisoformat(h["ts"]) > up_at] or None, timeout=20)
    taken_offline = [h for h in _health(hq) if down_at < datetime.fromisoformat(h["sampled_at"]) < up_at]
    assert len(taken_offline) == 1, taken_offline  # only the latest of the offline samples arrived
    assert late[0]["sampled_at"] == taken_offline[0]["sampled_at"]
    assert (up_at - datetime.fromisoformat(taken_offline[0]["sampled_at"])).total_seconds() < INTERVAL_S + 1
    daemon.terminate()
    proxy.close()


def test_metrics_parse_carry_the_figures_and_survive_odd_requests(tmp_path, broker, daemon_factory, hq_factory):
    daemon = _daemon(tmp_path, broker, daemon_factory)
    hq = hq_factory(broker.port)
    wait_online(hq)
    url = f"http://127.0.0.1:{daemon.web_port()}/metrics"
    assert _get(url, token=None)[0] == 401
    status, text = _get(url)
    assert status == 200
    samples = {s.name: s for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples["store_edge_info"].labels == {"store_id": "s1", "version": samples["store_edge_info"].labels["version"]}
    assert samples["store_edge_outbox_depth"].value == 0
    assert samples["store_edge_link_connected"].value == 1
    assert samples["store_edge_process_resident_memory_bytes"].value > 10_000_000
    assert samples["store_edge_data_disk_free_bytes"].value > 0
    assert "store_edge_events_sent_total" in samples
    assert _get(url + "?" + "x" * 20_000)[0] in (200, 400, 414, 431)  # a huge request line: refused or ignored
    assert _get(url + "?name[]=%00%ff&name[]=" + "%C3%A9" * 50)[0] == 200
    assert _get(url)[0] == 200  # and the daemon keeps serving
    daemon.terminate()


async def test_a_raising_or_hanging_hook_does_not_stop_the_others(monkeypatch):
    monkeypatch.setattr(fleet, "HOOK_TIMEOUT_S", 0.2)

    async def raises() -> dict:
        raise RuntimeError("radio gone")

    async def hangs() -> dict:
        await asyncio.sleep(10)
        return {}

    async def works() -> dict:
        return {"devices": {f"d{i}": "ok" for i in range(1000)}, "labels": {"ok": 3, "failed": "x"}, "open_alerts": -1,
                "low_batteries": 2, "models": {"produce": "v2"}, "image": b"no"}

    found = await fleet.job_figures([("a", raises), ("b", hangs), ("c", works)])
    assert found["a"] == {"error": "RuntimeError: radio gone"} and found["b"] == {"error": "timed out"}
    c = found["c"]
    assert len(c["devices"]) == fleet.MAX_DEVICES and c["devices_total"] == 1000
    assert c["labels"] == {"ok": 3, "failed": 0} and c["open_alerts"] == 0 and c["low_batteries"] == 2 and "image" not in c

    jobs = {name: {"healthy": True, "restarts": 0, **figures} for name, figures in found.items()}
    text = render(_snapshot(jobs)).decode()
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    failed = {s.labels["job"]: s.value for s in samples if s.name == "store_edge_job_health_failed"}
    assert failed == {"a": 1.0, "b": 1.0, "c": 0.0}
    assert {s.labels["model"]: s.labels["version"] for s in samples if s.name == "store_edge_model_info"} == {"produce": "v2"}
    assert sum(1 for s in samples if s.name == "store_edge_device_state") == fleet.MAX_DEVICES


def _snapshot(jobs: dict) -> dict:
    """A health body as `App.fleet_health` builds it."""
    status = {"store_id": "s1", "version": "0.1.0", "config": {"version": 0, "sha256": "0" * 64, "source": "local"}, "uptime_s": 1.0,
              "components": {},
              "link": {"outbox_depth": 0, "disk_full": False, "state": "connected", "events_sent": 0, "commands_handled": 0}}
    body = fleet.message(status, {"cpu": {"process_pct": 1.0, "system_pct": None}, "memory": {"rss_bytes": 1, "system_available_bytes": None},
                                  "disk": {"data_free_bytes": 1}}, None, {})
    return {**body, "jobs": jobs}


async def test_the_esl_counts_come_from_a_real_store_with_labels_and_alerts(tmp_path):
    store = await asyncio.to_thread(Store, tmp_path / "s.db", schemas={"catalog": catalog.STEPS, **schemas()})

    def seed(tx: Tx) -> None:
        """Six labels in four states (two batteries below 2.6 V, one unread) and two fridge alerts, one cleared."""
        labels = [("ok", 2.9), ("ok", 2.4), ("ok", None), ("pending", 2.7), ("failed", 2.5), ("unbound", 2.6)]
        for n, (state, volts) in enumerate(labels):
            tx.db["esl_labels"].insert({"id": f"F0:00:00:00:00:0{n}", "esl_group": 0, "esl_id": n, "state": state, "battery_v": volts})
        tx.db["esl_alerts"].insert_all([{"section": "dairy", "raised_at": 1.0, "cleared_at": 2.0, "peak_c": 9.5, "reason": "warm"},
                                        {"section": "meat", "raised_at": 3.0, "cleared_at": None, "peak_c": 7.1, "reason": "warm"}])

    await store.write(seed)
    job = SimpleNamespace(ctx=SimpleNamespace(store=store))
    found = await esl_fleet.figures(job)
    assert found == {"labels": {"ok": 3, "pending": 1, "failed": 1, "unbound": 1}, "low_batteries": 2, "open_alerts": 1}
    checked = await fleet.job_figures([("esl", lambda: esl_fleet.figures(job))])  # and the core's bounds let it through
    assert checked["esl"] == found
    await store.aclose()


def test_outbox_age_grows_while_events_wait(tmp_path, broker, daemon_factory, hq_factory):
    proxy = CuttableProxy(broker.port)  # only the daemon's path is cut, as above
    daemon = _daemon(tmp_path, broker, daemon_factory, f"mqtt://127.0.0.1:{proxy.port}")
    hq = hq_factory(broker.port, client_id="hq-age")
    wait_online(hq)
    url = f"http://127.0.0.1:{daemon.web_port()}/metrics"
    proxy.reset(refuse=True)
    emit_from_job(tmp_path / "d-data" / "store-edge.db", "job.test", 5)
    time.sleep(3)

    def outbox() -> dict[str, float]:
        """The outbox figures `/metrics` shows now."""
        text = _get(url)[1]
        return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name.startswith("store_edge_outbox")}

    waiting = outbox()
    assert waiting["store_edge_outbox_depth"] == 5 and 3 <= waiting["store_edge_outbox_oldest_age_seconds"] < 30, waiting
    time.sleep(1.5)
    assert outbox()["store_edge_outbox_oldest_age_seconds"] >= waiting["store_edge_outbox_oldest_age_seconds"] + 1  # it grows
    time.sleep(INTERVAL_S - 3)  # offline for over one health interval after the events were queued
    proxy.restore()
    offline = hq.wait(lambda _: [h for h in _health(hq) if h["outbox"]["depth"] == 5] or None, timeout=20)[-1]
    assert offline["outbox"]["oldest_age_s"] > 0  # the sample taken offline says how long they had waited
    hq.wait(lambda _: len(hq.events("job.test")) >= 5, timeout=20)
    drained = hq.wait(lambda _: (m := outbox())["store_edge_outbox_depth"] == 0 and m, timeout=10)
    assert "store_edge_outbox_oldest_age_seconds" not in drained  # nothing waits: the age is unknown, not 0
    daemon.terminate()
    proxy.close()
