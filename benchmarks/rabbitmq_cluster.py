"""Clustered deployment check: six real stores on a three-node RabbitMQ cluster, one node stopped mid-stream.

Why: HQ runs the fleet on a clustered broker and reads events from a durable queue; this script shows that a store
fails over between the nodes of such a cluster (`[broker] urls`, `protocol = "3.1.1"`) losing nothing and applying
nothing twice (docs/brokers.md, "Clustered deployment (RabbitMQ)"; issue 17 item 6).

Run: .venv/bin/python benchmarks/rabbitmq_cluster.py [--stores 6] [--stream-s 20] [--batch-every-s 1.0]
     [--labels 4] [--stop kill|stop_app] [--keep DIR]
Needs Debian's `rabbitmq-server` (3.10) and pika (`.venv/bin/pip install -e '.[rabbitmq]'`). Everything runs on loopback as the current user:
the cluster's nodes are started by this script under a temporary folder (their own ports, Erlang port mapper and
cookie), never the package's own service. Prints the figures as one JSON object and exits 1 when a check fails
(an event seq missing, a command without a reply or applied twice).

The scenario: a three-node cluster with `mqtt.durable_queue_type = quorum` (the stores' MQTT sessions are
replicated quorum queues); HQ's durable quorum queues `hq.events` (bound to `store-edge.v1.*.event.#`) and
`hq.replies` (`store-edge.v1.*.reply.#`) declared before any store starts; the stores, two per node, each listing
all three nodes (its own first). HQ sends every store a price batch every `--batch-every-s` over AMQP (each batch
changes the price of every product, so every label is re-rendered and reports `label.updated`); after a third of the
stream node 1 is stopped; its stores reconnect to the next node in their list. At the end HQ re-sends, with the
same request id, one batch each store answered before the stop, and checks from `hq.events` / `hq.replies` and
`price.history`: per store every seq from 1 to the last present once after dropping repeats, every batch answered
(repeats of a reply identical), the re-sent id answered from the inbox and never applied twice.

Importable (bench_fleet.py --broker rabbitmq uses it):

    from benchmarks.rabbitmq_cluster import Cluster, declare_events_queue

    with Cluster(Path(tmp), nodes=3) as cluster:       # started and joined; stopped and its files left in tmp
        cluster.mqtt_urls                              # ["mqtt://127.0.0.1:P1", ...], one per node
        cluster.amqp_urls, cluster.amqp_url            # AMQP 0-9-1 URLs (guest on loopback); amqp_url is node 1's
        declare_events_queue(cluster.amqp_url, "hq.events", "store-edge.v1.*.event.#")   # durable quorum queue
        cluster.stop_node(0)                           # SIGKILL node 1 (how="stop_app": rabbitmqctl stop_app)
        cluster.start_node(0)                          # back, and rejoined (waits until the cluster runs it)
        cluster.running_nodes()                        # names `rabbitmqctl cluster_status` calls running
    routing_key("store-edge/v1", "s1", "event", "#")   # the AMQP form of an MQTT topic ("/" -> ".")
    hq = Hq(cluster.amqp_urls, "store-edge/v1"); hq.start()   # HQ thread: consumes hq.events + hq.replies (declared first)
    hq.send("s1", "ping", {"id": "p-1"}); hq.got.events / hq.got.replies; hq.stop()

A node needs ~10 s to start on a 2-core machine; the three joined take 27-45 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import pika
import tomli_w

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.daemon import DaemonProcess

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
EPMD = "epmd"
COOKIE = "store-edge-cluster-check"


class ClusterError(RuntimeError):
    """The cluster could not be started, joined or stopped as asked."""


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick on loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float) -> None:
    """Return once something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise ClusterError(f"nothing listens on port {port} after {timeout:.0f} s")


@dataclass
class Node:
    """One RabbitMQ node of the cluster: its name, ports and folder."""

    name: str
    amqp_port: int
    mqtt_port: int
    dist_port: int
    base: Path
    proc: subprocess.Popen[bytes] | None = None
    app_stopped: bool = False


@dataclass
class Cluster:
    """A RabbitMQ cluster of `nodes` nodes on loopback, started by the current user under `root` (a context manager)."""

    root: Path
    nodes: int = 3
    subscription_ttl_ms: int = 7 * 24 * 3600 * 1000
    members: list[Node] = field(default_factory=list)
    epmd: subprocess.Popen[bytes] | None = None
    epmd_port: int = 0

    def __enter__(self) -> Self:
        """Start every node, join them to the first and wait until all run."""
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop every node and the port mapper this cluster started."""
        self.close()

    @property
    def mqtt_urls(self) -> list[str]:
        """Each node's MQTT listener, in node order."""
        return [f"mqtt://127.0.0.1:{n.mqtt_port}" for n in self.members]

    @property
    def amqp_urls(self) -> list[str]:
        """Each node's AMQP 0-9-1 listener (the default `guest` account, which RabbitMQ allows on loopback only)."""
        return [f"amqp://guest:guest@127.0.0.1:{n.amqp_port}/%2F" for n in self.members]

    @property
    def amqp_url(self) -> str:
        """Node 1's AMQP URL."""
        return self.amqp_urls[0]

    def start(self) -> None:
        """Lay out the nodes' folders and config, start the port mapper and every node, and join them."""
        self.root.mkdir(parents=True, exist_ok=True)
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(COOKIE)
            cookie.chmod(0o400)
        self.epmd_port = free_port()
        self.epmd = subprocess.Popen([EPMD, "-port", str(self.epmd_port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.epmd_port, 10)
        for i in range(self.nodes):
            base = self.root / f"rabbit{i + 1}"
            node = Node(f"rabbit{i + 1}@localhost", free_port(), free_port(), free_port(), base)
            (base / "log").mkdir(parents=True, exist_ok=True)
            (base / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
            (base / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = 127.0.0.1:{node.amqp_port}\n"
                f"mqtt.listeners.tcp.default = 127.0.0.1:{node.mqtt_port}\n"
                # The stores' persistent MQTT sessions become replicated quorum queues, so a store's session
                # (its command subscription and queued commands) survives the loss of the node it was made on.
                "mqtt.durable_queue_type = quorum\n"
                # A store's session lives as long as the store's own broker.session_expiry_s default (7 days).
                f"mqtt.subscription_ttl = {self.subscription_ttl_ms}\n"
                "mqtt.allow_anonymous = true\n"
                "loopback_users.guest = true\n"
                "log.console = false\n"
                "log.file.level = info\n"
                "cluster_partition_handling = pause_minority\n")
            self.members.append(node)
        for node in self.members:
            self._spawn(node)
        for node in self.members:
            self._await(node)
        for node in self.members[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", self.members[0].name)
            self.ctl(node, "start_app")
        self.wait_running(len(self.members), 120)

    def env(self, node: Node) -> dict[str, str]:
        """The environment a node (and rabbitmqctl talking to it) runs with: its name, ports, folders, cookie."""
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))},
            "HOME": str(self.root / "home"),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(node.amqp_port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_MNESIA_BASE": str(node.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(node.base / "log"),
            "RABBITMQ_PID_FILE": str(node.base / "node.pid"),
            "RABBITMQ_CONFIG_FILE": str(node.base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(node.base / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(node.base / "rabbitmq-env.conf"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(node.base / "plugins-expand"),
        }

    def _spawn(self, node: Node) -> None:
        """Start the node's Erlang VM in the foreground of a child process (its output to the node's folder)."""
        out = open(node.base / "console.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
        node.proc = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=self.env(node), stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        node.app_stopped = False

    def _await(self, node: Node, timeout: float = 120) -> None:
        """Wait until the node's RabbitMQ application has started and its MQTT listener accepts connections."""
        deadline = time.monotonic() + timeout
        while True:  # await_startup fails at once while the VM has not registered its name yet
            try:
                self.ctl(node, "await_startup", "--timeout", "10", timeout=30)
                break
            except (ClusterError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline or (node.proc is not None and node.proc.poll() is not None):
                    raise
                time.sleep(0.5)
        wait_port(node.mqtt_port, max(1.0, deadline - time.monotonic()))

    def ctl(self, node: Node, *args: str, timeout: float = 120) -> str:
        """Run `rabbitmqctl -n <node> args...` and return its output (ClusterError when it fails)."""
        done = subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", node.name, *args], env=self.env(node),
                              capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise ClusterError(f"rabbitmqctl -n {node.name} {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def running_nodes(self) -> list[str]:
        """The nodes `cluster_status` calls running, asked of the first node that answers."""
        for node in self.members:
            if node.proc is None or node.app_stopped:
                continue
            with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
                status = json.loads(self.ctl(node, "cluster_status", "--formatter", "json", timeout=30))
                return sorted(status.get("running_nodes", []))
        return []

    def wait_running(self, count: int, timeout: float) -> None:
        """Wait until `count` nodes run in the cluster."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.running_nodes()) == count:
                return
            time.sleep(0.5)
        raise ClusterError(f"{count} running nodes expected, cluster_status says {self.running_nodes()}")

    def stop_node(self, index: int, how: str = "kill") -> None:
        """Take node `index` away: SIGKILL its VM (`kill`) or stop its RabbitMQ application (`stop_app`)."""
        node = self.members[index]
        if how == "stop_app":
            self.ctl(node, "stop_app")
            node.app_stopped = True
            return
        if node.proc is not None:
            os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait(30)
            node.proc = None

    def start_node(self, index: int, timeout: float = 120) -> None:
        """Bring node `index` back (it rejoins the cluster from its own data) and wait until it runs there."""
        node = self.members[index]
        if node.app_stopped:
            self.ctl(node, "start_app")
            node.app_stopped = False
        elif node.proc is None:
            self._spawn(node)
        self._await(node, timeout)
        self.wait_running(sum(1 for n in self.members if n.proc is not None and not n.app_stopped), timeout)

    def close(self) -> None:
        """Stop every node (rabbitmqctl stop, SIGKILL if it does not end in 30 s) and the port mapper."""
        for node in self.members:
            if node.proc is None:
                continue
            with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
                self.ctl(node, "stop", timeout=40)
            try:
                node.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGKILL)  # erl_child_setup and friends left in its group
            node.proc = None
        if self.epmd is not None:
            self.epmd.terminate()
            self.epmd.wait(10)
            self.epmd = None


def amqp_connect(urls: list[str], timeout: float = 30) -> pika.BlockingConnection:
    """A blocking AMQP connection to the first node of `urls` that accepts one, trying them in turn."""
    deadline = time.monotonic() + timeout
    while True:
        for url in urls:
            params = pika.URLParameters(url)
            params.heartbeat = 10
            params.blocked_connection_timeout = 30
            with contextlib.suppress(pika.exceptions.AMQPConnectionError):
                return pika.BlockingConnection(params)
        if time.monotonic() > deadline:
            raise ClusterError(f"no AMQP node of {urls} accepted a connection")
        time.sleep(0.5)


def declare_events_queue(amqp_url: str, name: str, binding: str, exchange: str = "amq.topic") -> None:
    """Declare the durable quorum queue `name` and bind it to `exchange` with `binding` (idempotent)."""
    connection = amqp_connect([amqp_url])
    try:
        channel = connection.channel()
        channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(name, exchange, routing_key=binding)
    finally:
        connection.close()


def routing_key(prefix: str, store: str, kind: str, name: str) -> str:
    """The AMQP routing key of MQTT topic `<prefix>/<store>/<kind>/<name>` (RabbitMQ maps every `/` to `.`)."""
    return ".".join([*prefix.split("/"), store, kind, name])


@dataclass
class Received:
    """What HQ took from its queues: events by store and seq, replies by request id, and when."""

    events: dict[str, dict[int, str]] = field(default_factory=dict)
    first_seen: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    id_mismatch: list[str] = field(default_factory=list)
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    last_event_at: float = 0.0


class Hq(threading.Thread):
    """Headquarters over AMQP: consumes `hq.events` and `hq.replies` with manual acks, publishes commands to amq.topic.

    One thread owns the pika connection (pika is not thread-safe); other threads hand it commands through `send`.
    Commands are published with publisher confirms and `mandatory`: a command no store session queue is bound for
    comes back (unroutable) and is tried again, so HQ never believes a command queued that the broker dropped.
    """

    def __init__(self, urls: list[str], prefix: str) -> None:
        """HQ trying `urls` in order (the next on a lost connection)."""
        super().__init__(name="hq-amqp", daemon=True)
        self.urls = urls
        self.prefix = prefix
        self.got = Received()
        self.lock = threading.Lock()
        self.pending: list[tuple[str, str, dict[str, Any]]] = []
        self.stopping = threading.Event()
        self.reconnects = 0
        self.unroutable = 0
        self.published = 0
        self.error: str | None = None

    def send(self, store: str, name: str, body: dict[str, Any]) -> None:
        """Queue command `name` with `body` for `store` (published by the HQ thread)."""
        with self.lock:
            self.pending.append((store, name, body))

    def stop(self) -> None:
        """Stop consuming and close the connection."""
        self.stopping.set()
        self.join(30)

    def run(self) -> None:
        """Consume and publish until stopped, reconnecting to the next node on a lost connection."""
        order = list(self.urls)
        while not self.stopping.is_set():
            try:
                connection = amqp_connect(order, timeout=60)
            except ClusterError as err:
                self.error = str(err)
                return
            try:
                self._serve(connection)
            except (pika.exceptions.AMQPError, OSError):
                self.reconnects += 1
                order = order[1:] + order[:1]
            finally:
                with contextlib.suppress(Exception):
                    connection.close()

    def _serve(self, connection: pika.BlockingConnection) -> None:
        """One connection's life: consume both queues, publish what is pending."""
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=500)
        channel.basic_consume("hq.events", self._on_event)
        channel.basic_consume("hq.replies", self._on_reply)
        while not self.stopping.is_set():
            connection.process_data_events(time_limit=0.05)
            with self.lock:
                batch, self.pending = self.pending, []
            for n, (store, name, body) in enumerate(batch):
                try:
                    channel.basic_publish("amq.topic", routing_key(self.prefix, store, "cmd", name),
                                          json.dumps(body).encode(), pika.BasicProperties(delivery_mode=2),
                                          mandatory=True)
                    self.published += 1
                except pika.exceptions.UnroutableError:
                    self.unroutable += 1
                    with self.lock:
                        self.pending.append((store, name, body))
                except BaseException:
                    with self.lock:  # not confirmed: publish again (same id) on the next connection
                        self.pending[:0] = batch[n:]
                    raise

    def _on_event(self, channel: Any, method: Any, _props: Any, body: bytes) -> None:
        """Record one event (dropping a repeat by store and seq), then acknowledge it."""
        store = method.routing_key.split(".")[len(self.prefix.split("/"))]
        event = json.loads(body)
        now = time.time()
        with self.lock:
            seen = self.got.events.setdefault(store, {})
            if event["seq"] in seen:
                self.got.duplicates[store] = self.got.duplicates.get(store, 0) + 1
                if seen[event["seq"]] != event["id"]:
                    self.got.id_mismatch.append(f"{store} seq {event['seq']}")
            else:
                seen[event["seq"]] = event["id"]
                self.got.first_seen.setdefault(store, []).append((now, event["seq"]))
            self.got.last_event_at = now
        channel.basic_ack(method.delivery_tag)

    def _on_reply(self, channel: Any, method: Any, _props: Any, body: bytes) -> None:
        """Record one reply by request id, then acknowledge it."""
        reply = json.loads(body)
        with self.lock:
            self.got.replies.setdefault(str(reply.get("id")), []).append(reply)
        channel.basic_ack(method.delivery_tag)


def store_config(path: Path, store: str, data: Path, urls: list[str], labels: int) -> Path:
    """A store's config: every node in `urls` (its own first), MQTT 3.1.1, a small simulated label set."""
    path.write_text(tomli_w.dumps({
        "store": {"id": store, "timezone": "Asia/Shanghai"},
        "data": {"dir": str(data)},
        "broker": {"urls": urls, "protocol": "3.1.1", "keepalive_s": 5, "reconnect_min_s": 0.2,
                   "reconnect_max_s": 2.0},
        "http": {"listen": "127.0.0.1:0"},
        "log": {"level": "info", "format": "json"},
        "esl": {"backend": "simulated", "simulated": {"labels": labels, "seed": 7, "time_scale": 0.0},
                "demo_store": {"enabled": True, "products": labels}},
    }))
    return path


def log_times(daemon: DaemonProcess, event: str) -> list[tuple[float, dict[str, Any]]]:
    """(unix time, line) of every JSON log line of the daemon whose event is `event`."""
    out = []
    for line in daemon.log().splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("event") == event:
                out.append((datetime.fromisoformat(entry["timestamp"]).timestamp(), entry))
    return out


def ticker(db: Path, stop: threading.Event, every_s: float) -> threading.Thread:
    """A stand-in job (as the tests' emit_from_job): one `bench.tick` event every `every_s` in the store's outbox."""
    from edge.store import Store

    def run() -> None:
        """Emit until stopped, one write transaction per event (as a job's state change would be)."""
        store = Store(db)
        try:
            n = 0
            while not stop.is_set():
                store.write_sync(lambda tx, n=n: tx.emit("bench.tick", {"n": n}))
                n += 1
                stop.wait(every_s)
        finally:
            store.close()

    thread = threading.Thread(target=run, name=f"tick-{db.parent.name}", daemon=True)
    thread.start()
    return thread


def price_batch(store: str, k: int, labels: int) -> dict[str, Any]:
    """Batch k for `store`: every demo product gets price 10.00 + k cents (each batch changes every price)."""
    return {"id": f"{store}-pu-{k}", "sender": "hq-bench",
            "items": [{"sku": f"DEMO{j + 1:05d}", "price": f"{10 + k / 100:.2f}"} for j in range(labels)]}


PREFIX = "store-edge/v1"


def wait_for(check: Any, timeout: float, what: str) -> None:
    """Poll `check()` every 0.2 s until true; ClusterError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def outbox_depth(db: Path) -> int:
    """Events still waiting in a store's outbox (read-only, beside the running daemon)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


def failover_figures(daemon: DaemonProcess, stopped_at: float, seen: list[tuple[float, int]],
                     nodes: dict[str, int]) -> dict[str, Any]:
    """One store's failover after the stop: node stop → link lost → reconnected (to which nodes) → next event at HQ."""
    lost = [t for t, _ in log_times(daemon, "link.lost") if t >= stopped_at - 0.5]
    if not lost:
        return {"lost": False}
    connected = [(t, e["broker"]) for t, e in log_times(daemon, "link.connected") if t >= lost[0]]
    after = [t for t, _ in seen if connected and t >= connected[0][0]]
    before = [t for t, _ in seen if t <= stopped_at]
    out: dict[str, Any] = {"lost": True, "stop_to_lost_ms": round((lost[0] - stopped_at) * 1000)}
    if connected:
        # A node may drop a fresh connection again (3.10: a publish nacked during a quorum queue's leader election
        # ends the MQTT connection): every node connected to after the loss is listed, in order.
        out |= {"connected_to_nodes": [nodes[url] for _, url in connected],
                "lost_to_connected_ms": round((connected[0][0] - lost[0]) * 1000)}
    if after:
        out["connected_to_first_event_ms"] = round((after[0] - connected[0][0]) * 1000)
        out["hq_silence_ms"] = round((after[0] - (before[-1] if before else stopped_at)) * 1000)
    return out


def run_scenario(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """Start the cluster and the stores, stream, stop a node, check; returns the figures and the failed checks."""
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rabbitmq-cluster-"))
    failures: list[str] = []
    started = time.monotonic()
    with Cluster(root / "rabbitmq") as cluster:
        cluster_up_s = time.monotonic() - started
        # HQ's queues exist before any store publishes: RabbitMQ acknowledges (and drops) a publish no queue takes.
        declare_events_queue(cluster.amqp_url, "hq.events", routing_key(PREFIX, "*", "event", "#"))
        declare_events_queue(cluster.amqp_url, "hq.replies", routing_key(PREFIX, "*", "reply", "#"))
        hq = Hq(list(reversed(cluster.amqp_urls)), PREFIX)  # HQ on node 3; the queues' leaders on node 1
        hq.start()
        stores = [f"s{i + 1}" for i in range(args.stores)]
        daemons: dict[str, DaemonProcess] = {}
        homes: dict[str, int] = {}
        for i, store in enumerate(stores):
            home = i * len(cluster.members) // len(stores)
            homes[store] = home
            urls = cluster.mqtt_urls[home:] + cluster.mqtt_urls[:home]
            config = store_config(root / f"{store}.toml", store, root / store, urls, args.labels)
            daemons[store] = DaemonProcess(config, root / f"{store}.log")
        stop_ticks = threading.Event()
        ticks: list[threading.Thread] = []
        sent: dict[str, dict[str, Any]] = {}
        sends: dict[str, int] = {}

        def publish(store: str, name: str, body: dict[str, Any]) -> None:
            """Send a command through HQ and remember it (and how often its id was sent)."""
            sent[body["id"]] = {"store": store, "name": name, "body": body, "at": time.time()}
            sends[body["id"]] = sends.get(body["id"], 0) + 1
            hq.send(store, name, body)

        try:
            for daemon in daemons.values():
                daemon.start()
            for store, daemon in daemons.items():
                wait_for(lambda d=daemon: log_times(d, "link.connected"), 90, f"{store} to connect")
            for store in stores:
                ticks.append(ticker(root / store / "store-edge.db", stop_ticks, args.tick_s))
                publish(store, "ping", {"id": f"{store}-ping-1"})

            def resend_unanswered(older_than: float) -> None:
                """Send again, with the same id, every command unanswered for `older_than` seconds."""
                with hq.lock:
                    answered = set(hq.got.replies)
                for rid, cmd in list(sent.items()):
                    if rid not in answered and time.time() - cmd["at"] > older_than:
                        publish(cmd["store"], cmd["name"], cmd["body"])  # the same id: answered once, applied once

            stream_started = time.time()
            stopped_at = 0.0
            k = 0
            while time.time() - stream_started < args.stream_s:
                k += 1
                for store in stores:
                    publish(store, "price.update", price_batch(store, k, args.labels))
                if not stopped_at and time.time() - stream_started >= args.stream_s / 3:
                    stopped_at = time.time()  # before: `rabbitmqctl stop_app` returns after the node has stopped
                    cluster.stop_node(0, args.stop)
                resend_unanswered(args.resend_s)
                time.sleep(max(0.0, stream_started + k * args.batch_every_s - time.time()))
            stop_ticks.set()
            for thread in ticks:
                thread.join(10)
            stream_s = time.time() - stream_started
            batches = k

            def quiet() -> bool:
                """Every command answered, no event for 2 s and every store's outbox empty."""
                resend_unanswered(args.resend_s)
                with hq.lock:
                    answered = all(rid in hq.got.replies for rid in sent)
                    idle = time.time() - hq.got.last_event_at > 2
                return answered and idle and all(outbox_depth(root / s / "store-edge.db") == 0 for s in stores)

            wait_for(quiet, 120, "every command answered and every outbox drained")
            # After the failover: the same request ids again (a batch and a ping answered before the stop).
            for store in stores:
                publish(store, "price.update", sent[f"{store}-pu-1"]["body"])
                publish(store, "ping", {"id": f"{store}-ping-1"})
            wait_for(lambda: all(len(hq.got.replies.get(f"{s}-pu-1", [])) >= 2
                                 and len(hq.got.replies.get(f"{s}-ping-1", [])) >= 2 for s in stores), 60,
                     "the re-sent ids to be answered")
            for store in stores:
                publish(store, "price.history", {"id": f"{store}-history", "sku": "DEMO00001", "limit": 1000})
            wait_for(lambda: all(f"{s}-history" in hq.got.replies for s in stores), 60, "price.history replies")
            wait_for(lambda: time.time() - hq.got.last_event_at > 2, 30, "the last events")
        finally:
            stop_ticks.set()
            for daemon in daemons.values():
                if daemon.proc is not None:
                    with contextlib.suppress(Exception):
                        daemon.terminate(30)
                    if daemon.proc is not None:
                        daemon.kill()
            hq.stop()

    got = hq.got
    per_store: dict[str, Any] = {}
    for store in stores:
        seqs = got.events.get(store, {})
        last = max(seqs, default=0)
        missing = sorted(set(range(1, last + 1)) - set(seqs))
        if missing or not seqs:
            failures.append(f"{store}: {len(missing)} event seqs missing (first {missing[:5]}), {len(seqs)} received")
        entry: dict[str, Any] = {"node": homes[store] + 1, "events": len(seqs), "last_seq": last,
                                 "gaps": len(missing), "duplicates": got.duplicates.get(store, 0)}
        if homes[store] == 0:
            entry["failover"] = failover_figures(daemons[store], stopped_at, got.first_seen.get(store, []),
                                                 {url: i + 1 for i, url in enumerate(cluster.mqtt_urls)})
            if not entry["failover"].get("connected_to_first_event_ms") and entry["failover"].get("lost"):
                failures.append(f"{store}: no event reached HQ after its reconnect")
        else:
            entry["lost_link"] = any(t >= stopped_at for t, _ in log_times(daemons[store], "link.lost"))
        per_store[store] = entry
    failures += [f"event seq {m} came twice with different ids" for m in got.id_mismatch]

    bad_replies = 0
    for rid, cmd in sent.items():
        replies = got.replies.get(rid, [])
        if not replies:
            failures.append(f"{rid}: no reply")
        elif any(json.dumps(r, sort_keys=True) != json.dumps(replies[0], sort_keys=True) for r in replies):
            failures.append(f"{rid}: replies differ: {replies[:2]}")
        elif cmd["name"] == "price.update" and not (replies[0].get("ok")
                                                  and replies[0]["result"].get("applied") == args.labels):
            bad_replies += 1
            if bad_replies == 1:
                failures.append(f"price.update not applied, e.g. {rid}: {replies[0]}")
    for store in stores:
        reply = got.replies[f"{store}-history"][0]
        if not reply.get("ok"):
            failures.append(f"{store} price.history: {reply}")
            continue
        ids = [i["request_id"] for i in reply["result"]["intervals"] if i["request_id"]]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice or ids.count(f"{store}-pu-1") != 1 or ids[-1] != f"{store}-pu-{batches}":
            failures.append(f"{store}: price history shows a batch applied twice or out of order: {twice or ids[-3:]}")

    unique = sum(len(v) for v in got.events.values())
    figures = {
        "rabbitmq": "3.10 (Debian)", "nodes": len(cluster.members), "stores": len(stores),
        "cluster_start_s": round(cluster_up_s, 1), "stop": f"node 1 ({args.stop}) at {args.stream_s / 3:.0f} s",
        "stream_s": round(stream_s, 1), "price_batches_per_store": batches,
        "events_unique": unique, "events_per_s": round(unique / stream_s, 1),
        "duplicates": sum(got.duplicates.values()), "gaps": sum(e["gaps"] for e in per_store.values()),
        "commands": len(sent), "command_publishes": sum(sends.values()), "unroutable_retried": hq.unroutable,
        "price_update_not_applied": bad_replies, "hq_reconnects": hq.reconnects, "per_store": per_store,
    }
    lost = [e["failover"] for e in per_store.values() if e.get("failover", {}).get("lost")]
    if lost:
        for key in ("stop_to_lost_ms", "lost_to_connected_ms", "connected_to_first_event_ms", "hq_silence_ms"):
            values = [f[key] for f in lost if key in f]
            if values:
                figures[f"failover_{key}_median"] = statistics.median(values)
                figures[f"failover_{key}_max"] = max(values)
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return figures, failures


def main() -> int:
    """Parse the arguments, run the scenario, print the figures; 1 when a check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=6, help="real daemons, spread evenly over the three nodes")
    parser.add_argument("--stream-s", type=float, default=30.0, help="how long HQ sends batches and stores emit")
    parser.add_argument("--batch-every-s", type=float, default=1.0, help="one price batch per store this often")
    parser.add_argument("--tick-s", type=float, default=0.1, help="a stand-in job's event this often per store")
    parser.add_argument("--labels", type=int, default=4, help="simulated labels (and demo products) per store")
    parser.add_argument("--resend-s", type=float, default=10.0, help="re-send a command unanswered this long")
    parser.add_argument("--stop", choices=["kill", "stop_app"], default="kill", help="how node 1 is stopped")
    parser.add_argument("--keep", help="a folder to keep the nodes', stores' files and logs in (else a temp dir)")
    args = parser.parse_args()
    figures, failures = run_scenario(args)
    print(json.dumps({**figures, "failed_checks": failures}, indent=2, ensure_ascii=False))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
