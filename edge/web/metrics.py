"""`GET /metrics`: the fleet health figures (the body of `telemetry/health`) in the Prometheus text format, for a store's own monitoring.

Built per scrape from one health snapshot with prometheus-client's metric families, so the
page and `telemetry/health` never disagree. Labels are the store, job, device, state and model:
nothing about a person. Behind the API token like `/api/status` (a scraper sends it as a bearer token).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

PREFIX = "store_edge_"

Health = Callable[[], Awaitable[dict[str, Any]]]


def _gauge(name: str, doc: str, value: float | None, labels: dict[str, str]) -> Iterator[Metric]:
    """One gauge with one sample, left out when the figure is unknown (null)."""
    if value is None:
        return
    family = GaugeMetricFamily(PREFIX + name, doc, labels=list(labels))
    family.add_metric(list(labels.values()), float(value))
    yield family


def families(health: dict[str, Any]) -> Iterator[Metric]:
    """Every metric of one health snapshot."""
    store = {"store_id": health["store_id"]}
    info = GaugeMetricFamily(PREFIX + "info", "The daemon's version (always 1)", labels=["store_id", "version"])
    info.add_metric([health["store_id"], health["version"]], 1.0)
    yield info
    yield from _gauge("uptime_seconds", "Seconds since the daemon started", health["uptime_s"], store)
    cpu, memory = health["cpu"], health["memory"]
    yield from _gauge("process_cpu_percent", "Daemon CPU since the previous sample (100 = one core)", cpu["process_pct"], store)
    yield from _gauge("system_cpu_percent", "Host CPU busy share of all cores since the previous sample", cpu["system_pct"], store)
    yield from _gauge("process_resident_memory_bytes", "Daemon resident memory", memory["rss_bytes"], store)
    yield from _gauge("system_memory_available_bytes", "Host memory available", memory["system_available_bytes"], store)
    yield from _gauge("data_disk_free_bytes", "Free space on the data directory's file system", health["disk"]["data_free_bytes"], store)
    outbox, link = health["outbox"], health["link"]
    yield from _gauge("outbox_depth", "Events waiting to be sent to headquarters", outbox["depth"], store)
    yield from _gauge("outbox_oldest_age_seconds", "Age of the oldest unsent event", outbox["oldest_age_s"], store)
    yield from _gauge("disk_full", "1 while the disk is too full to queue events", int(outbox["disk_full"]), store)
    yield from _gauge("link_connected", "1 while connected to the broker", int(link["state"] == "connected"), store)
    for name, key, doc in (("events_sent", "events_sent", "Events headquarters acknowledged since start"),
                           ("commands_handled", "commands_handled", "Commands answered since start")):
        counter = CounterMetricFamily(PREFIX + name, doc, labels=["store_id"])
        counter.add_metric([health["store_id"]], float(link[key]))
        yield counter
    yield from _jobs(health["store_id"], health["jobs"])


def _jobs(store_id: str, jobs: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    """Per-job figures: health, restarts, devices by state, labels by state, low batteries, open alerts, models."""
    by_job = ["store_id", "job"]
    healthy = GaugeMetricFamily(PREFIX + "job_healthy", "1 while the job does its work", labels=by_job)
    restarts = CounterMetricFamily(PREFIX + "job_restarts", "Restarts of the job after a crash", labels=by_job)
    failed = GaugeMetricFamily(PREFIX + "job_health_failed", "1 when the job's health figures could not be read", labels=by_job)
    devices = GaugeMetricFamily(PREFIX + "device_state", "A device's current state (1 for that state)",
                                labels=[*by_job, "device", "state"])
    labels = GaugeMetricFamily(PREFIX + "labels", "Shelf labels by state", labels=[*by_job, "state"])
    low = GaugeMetricFamily(PREFIX + "low_batteries", "Devices with a low battery", labels=by_job)
    alerts = GaugeMetricFamily(PREFIX + "open_alerts", "Alerts raised and not yet cleared", labels=by_job)
    models = GaugeMetricFamily(PREFIX + "model_info", "The model version a job runs (always 1)", labels=[*by_job, "model", "version"])
    for name, figures in jobs.items():
        key = [store_id, name]
        healthy.add_metric(key, float(bool(figures["healthy"])))
        restarts.add_metric(key, float(figures["restarts"]))
        failed.add_metric(key, float("error" in figures))
        for device, state in figures.get("devices", {}).items():
            devices.add_metric([*key, device, state], 1.0)
        for state, count in figures.get("labels", {}).items():
            labels.add_metric([*key, state], float(count))
        if "low_batteries" in figures:
            low.add_metric(key, float(figures["low_batteries"]))
        if "open_alerts" in figures:
            alerts.add_metric(key, float(figures["open_alerts"]))
        for model, version in figures.get("models", {}).items():
            models.add_metric([*key, model, version], 1.0)
    yield from (healthy, restarts, failed, devices, labels, low, alerts, models)


class _Snapshot:
    """A collector over one health snapshot (prometheus-client's custom collector shape)."""

    def __init__(self, health: dict[str, Any]) -> None:
        """Hold the snapshot to expose."""
        self.health = health

    def collect(self) -> Iterator[Metric]:
        """The snapshot's metric families."""
        return families(self.health)


def render(health: dict[str, Any]) -> bytes:
    """The Prometheus text exposition of one snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(health))
    return generate_latest(registry)


def add(app: web.Application, health: Health) -> None:
    """Register `GET /metrics`."""

    async def get_metrics(request: web.Request) -> web.Response:
        """One fresh snapshot, as text."""
        body = render(await health())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", get_metrics)
