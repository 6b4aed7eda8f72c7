"""The brokers bench_fleet.py runs a fleet against, behind one small interface, so the benchmark is the same on each.

A `FleetBroker` starts, says which broker URL(s) store `i` is given and which port HQ uses, disturbs
itself once mid-batch (Mosquitto: SIGTERM and a restart on the same port with persistence;
RabbitMQ: one node of three stopped), counts its own CPU-seconds and memory, and stops.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Protocol

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.demo.broker import Mosquitto

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU-seconds of one process (all its threads) so far, from /proc/<pid>/stat; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def pss_kb(pid: int) -> dict[str, int]:
    """Proportional set size and its anonymous part in kB (shared pages are split between the processes mapping them)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return {"pss": 0, "anon": 0, "rss": 0}

    def field(name: str) -> int:
        found = re.search(rf"^{name}:\s+(\d+) kB", text, re.MULTILINE)
        return int(found.group(1)) if found else 0

    return {"pss": field("Pss"), "anon": field("Pss_Anon"), "rss": field("Rss")}


class FleetBroker(Protocol):
    """What the benchmark needs of a broker (or a cluster of them)."""

    name: str
    protocol: str  # "5" or "3.1.1": what the stores and HQ speak to it

    def start(self) -> None:
        """Start and wait until it accepts connections."""

    def broker_section(self, index: int) -> dict[str, object]:
        """The `[broker]` keys naming where store number `index` connects (url or urls)."""

    def hq_port(self) -> int:
        """The loopback port HQ's client connects to."""

    def disturb(self) -> dict[str, float]:
        """The mid-batch fault (restart, node stopped); returns what it took (seconds)."""

    def recover(self) -> None:
        """Undo the fault before the next step (a stopped node started again), outside every timing."""

    def pids(self) -> list[int]:
        """The broker's processes now (for memory)."""

    def cpu_s(self) -> float:
        """CPU-seconds of every broker process this run started, those stopped since included."""

    def stop(self) -> None:
        """Stop everything it started."""


class MosquittoBroker:
    """One Mosquitto with persistence on a free loopback port; `disturb` stops it with SIGTERM and starts it again on the same port."""

    name = "mosquitto"
    protocol = "5"

    def __init__(self, workdir: Path) -> None:
        """Nothing runs until `start`."""
        self._broker = Mosquitto(workdir / "mosquitto")
        self._gone_cpu = 0.0  # CPU-seconds of broker processes already stopped

    def start(self) -> None:
        """Start the broker (see edge.demo.broker.Mosquitto: persistence, autosave every second, loopback)."""
        self._broker.start()

    def broker_section(self, index: int) -> dict[str, object]:
        """Every store connects to the one broker."""
        return {"url": self._broker.url}

    def hq_port(self) -> int:
        """HQ uses the same listener."""
        return self._broker.port

    def disturb(self) -> dict[str, float]:
        """SIGTERM (Mosquitto saves its persistence file), then a new process on the same port, reading that file."""
        started = time.monotonic()
        self._gone_cpu += sum(cpu_seconds(pid) for pid in self.pids())
        self._broker.stop()
        stopped = time.monotonic()
        self._broker.start()
        return {"stop_s": round(stopped - started, 3), "down_s": round(time.monotonic() - started, 3)}

    def recover(self) -> None:
        """Nothing to undo: the restarted broker is the broker."""

    def pids(self) -> list[int]:
        """The one broker process."""
        return [self._broker.process.pid] if self._broker.process is not None else []

    def cpu_s(self) -> float:
        """CPU-seconds of every broker process this run started."""
        return self._gone_cpu + sum(cpu_seconds(pid) for pid in self.pids())

    def stop(self) -> None:
        """Terminate the broker."""
        self._broker.stop()


class RabbitMqCluster:
    """benchmarks/rabbitmq_cluster.py's three-node cluster; store i lists every node, node i % 3 first; HQ uses node 3.

    `disturb` SIGKILLs node 1 (a third of the stores were on it and fail over to their next URL);
    `recover` starts it again and waits until it has rejoined.
    """

    name = "rabbitmq"
    protocol = "3.1.1"  # RabbitMQ 3.10's MQTT plugin has no MQTT 5

    def __init__(self, workdir: Path) -> None:
        """Nothing runs until `start`; the cluster module (it needs pika and rabbitmq-server) is imported only here."""
        from rabbitmq_cluster import Cluster

        self._cluster = Cluster(workdir / "rabbitmq", nodes=3)
        self._gone_cpu = 0.0

    def start(self) -> None:
        """Start the three nodes and join them (the cluster's own start; stopped again if it fails)."""
        self._cluster.__enter__()

    def broker_section(self, index: int) -> dict[str, object]:
        """All three nodes, this store's own node first."""
        urls = self._cluster.mqtt_urls
        first = index % len(urls)
        return {"urls": urls[first:] + urls[:first]}

    def hq_port(self) -> int:
        """The last node's MQTT port: the node that is never stopped."""
        return int(self._cluster.mqtt_urls[-1].rsplit(":", 1)[1])

    def disturb(self) -> dict[str, float]:
        """SIGKILL node 1 (its CPU so far is kept in the count)."""
        started = time.monotonic()
        self._gone_cpu += sum(cpu_seconds(pid) for pid in _group(self._cluster.members[0].proc))
        self._cluster.stop_node(0)
        return {"node_stopped_s": round(time.monotonic() - started, 3)}

    def recover(self) -> None:
        """Start node 1 again and wait until the cluster runs it."""
        self._cluster.start_node(0)

    def pids(self) -> list[int]:
        """Every process of every running node (each node runs in its own process group)."""
        return [pid for node in self._cluster.members for pid in _group(node.proc)]

    def cpu_s(self) -> float:
        """CPU-seconds of every node process this run started."""
        return self._gone_cpu + sum(cpu_seconds(pid) for pid in self.pids())

    def stop(self) -> None:
        """Stop every node and the port mapper."""
        self._cluster.close()


def _group(proc: object) -> list[int]:
    """The pids of the process group led by `proc` (a node's shell, its Erlang VM and helpers); none when it is gone."""
    leader = getattr(proc, "pid", None)
    if leader is None:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == leader:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def make_broker(name: str, workdir: Path) -> FleetBroker:
    """The broker named on the command line."""
    if name == "rabbitmq":
        return RabbitMqCluster(workdir)
    return MosquittoBroker(workdir)
