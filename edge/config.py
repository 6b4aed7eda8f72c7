"""Typed, validated, frozen configuration: every mistake is reported with its key path before anything starts."""

from __future__ import annotations

import difflib
import functools
import ipaddress
import os
import stat
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from edge.jobs import JobSpec, installed_jobs

STORE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_SECRET_BYTES = 4096  # a password or token file larger than this is a mistake (the wrong file), not a secret


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` holds one readable line per mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"invalid configuration in {self.source}:\n{lines}"


class _Section(BaseModel):
    """Base of every section: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSection(_Section):
    """Who this gateway is."""

    id: Annotated[str, Field(pattern=STORE_ID_PATTERN)]
    name: str = ""
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        """The core prices by the store's day (a promotion ends at its midnight): a zone that does not exist is a mistake."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Asia" (a folder), a name too long
            raise ValueError("not an IANA time zone such as 'Asia/Shanghai'") from None
        return value


class DataSection(_Section):
    """Where durable state lives (the SQLite database, reports, rendered files)."""

    dir: Path = Path("/var/lib/store-edge")


MAX_BROKER_URLS = 16  # a failover list longer than this is a mistake (the whole fleet pasted in), not a cluster


def _check_broker_url(value: str) -> str:
    """One broker URL: mqtt:// or mqtts://, a host, and a port that parses."""
    parts = urlsplit(value)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    try:
        parts.port
    except ValueError as err:
        raise ValueError(f"bad port: {err}") from None
    return value


@dataclass(frozen=True)
class BrokerAddress:
    """One broker node to try, as the session needs it (host, port, TLS) plus its URL for logs."""

    url: str
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """From a URL already checked by `_check_broker_url`; the port defaults by scheme."""
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        return cls(url, parts.hostname or "", parts.port or (8883 if tls else 1883), tls)


class BrokerSection(_Section):
    """The MQTT broker at headquarters (or the store's local bridge); `urls` lists the nodes of a cluster to fail over between."""

    url: str = "mqtt://127.0.0.1:1883"
    #: Broker nodes tried in order, one per reconnect attempt (docs/brokers.md); set `url` or `urls`, not both.
    urls: Annotated[list[Annotated[str, AfterValidator(_check_broker_url)]], Field(min_length=1, max_length=MAX_BROKER_URLS)] | None = None
    #: MQTT protocol version: "5" (reason codes, session expiry) or "3.1.1" for brokers without MQTT 5 (docs/brokers.md).
    protocol: Literal["5", "3.1.1"] = "5"
    topic_prefix: str = "store-edge/v1"
    client_id: str | None = None
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    session_expiry_s: Annotated[int, Field(ge=0)] = 7 * 24 * 3600
    reconnect_min_s: Annotated[float, Field(gt=0)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0)] = 60.0

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        """The one broker of a single-node configuration."""
        return _check_broker_url(value)

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, value: list[str] | None) -> list[str] | None:
        """No node twice, and all TLS or none (a failover must not downgrade to plain text); each URL is checked on its own above."""
        if value is None:
            return None
        if len(set(value)) != len(value):
            raise ValueError("a broker URL is listed twice")
        if len({urlsplit(url).scheme for url in value}) > 1:
            raise ValueError("mixes mqtt:// and mqtts://; every node must use TLS or none (a failover must not drop TLS)")
        return value

    @model_validator(mode="after")
    def _one_of_url_and_urls(self) -> BrokerSection:
        """`url` and `urls` together are ambiguous (which comes first?): refuse rather than guess."""
        if self.urls is not None and "url" in self.model_fields_set:
            raise ValueError("set broker.url (one broker) or broker.urls (a list of nodes), not both")
        return self

    @property
    def addresses(self) -> list[BrokerAddress]:
        """The nodes in the order they are tried: `urls`, or the one `url`."""
        return [BrokerAddress.parse(url) for url in self.urls or [self.url]]

    @property
    def tls(self) -> bool:
        """mqtts:// means TLS, whatever the port (every node alike: checked above)."""
        return self.addresses[0].tls

    @property
    def host(self) -> str:
        """The first node's host name (the one broker of a single-node configuration)."""
        return self.addresses[0].host

    @property
    def port(self) -> int:
        """The first node's port, defaulting by scheme."""
        return self.addresses[0].port

    def password(self) -> str | None:
        """Secrets come from a file (readable only by the service user), never from the config itself."""
        return None if self.password_file is None else read_secret(self.password_file)


class OutboxSection(_Section):
    """Bounds of the store-and-forward queue."""

    max_events: Annotated[int, Field(ge=100)] = 1_000_000
    inflight: Annotated[int, Field(ge=1, le=65535)] = 200
    inbox_retention_days: Annotated[int, Field(ge=7)] = 30


class LogSection(_Section):
    """Log level and line format (journald adds its own timestamps)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["logfmt", "json", "console"] = "logfmt"


class HttpSection(_Section):
    """The store's web pages and JSON API (status page, scale screens)."""

    enabled: bool = True
    listen: str = "127.0.0.1:8787"
    token_file: Path | None = None
    max_connections: Annotated[int, Field(ge=16, le=65536)] = 1024  # at the cap the oldest idle connection is closed
    require_token_beyond_loopback: bool = False  # refuse to start (not just warn) when listening beyond loopback without a token

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8787")
        return value

    @property
    def host(self) -> str:
        """Bind address."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """Bind port (0 picks a free one)."""
        return int(self.listen.rpartition(":")[2])

    @property
    def beyond_loopback(self) -> bool:
        """Whether other machines can reach the server (any address but 127.0.0.0/8, ::1 and localhost)."""
        if self.host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return True  # a host name: it resolves to who knows what

    def token(self) -> str | None:
        """The API token from `token_file`, if one is configured."""
        return None if self.token_file is None else read_secret(self.token_file)


class TelemetrySection(_Section):
    """`[telemetry]`: how often the fleet health figures (`telemetry/health`) go to headquarters."""

    health_interval_s: Annotated[float, Field(ge=5, le=3600)] = 60.0  # QoS 0, latest wins while offline


class PricesSection(_Section):
    """`[prices]`: how a promotion's original price is proven (the history it is judged on and how long that is kept),
    and which label content rules a product's label must pass."""

    lookback_days: Annotated[int, Field(ge=7, le=365)] = 7  # the base is the lowest price in force this long before: CN 7, EU 30
    fake_promotion: Literal["refuse", "plain"] = "refuse"  # a promotion not below its base: refused, or shown without 原价
    min_history_hours: Annotated[int, Field(ge=0, le=168)] = 24  # a product younger than this before a promotion has no base
    history_days: Annotated[int, Field(ge=7, le=3650)] = 30  # price history kept at least this long (and the look-back)
    rules: Literal["cn", "none"] = "cn"  # label content rules an item must pass (edge/prices/rules.py); "none": no checks

    @property
    def kept_days(self) -> int:
        """Days of price history kept: the longer of the retention and the look-back."""
        return max(self.history_days, self.lookback_days)


class ArtifactsSection(_Section):
    """`[artifacts]`: who may sign the files headquarters installs (edge/artifacts/) and how much a store keeps and stages."""

    public_keys: Annotated[list[Path], Field(max_length=8)] = []  # headquarters' Ed25519 public keys (PEM); none: installs refused
    keep_versions: Annotated[int, Field(ge=2, le=10)] = 3  # installed versions kept per kind (active and previous always)
    max_bytes: Annotated[int, Field(ge=1, le=8 * 1024**3)] = 1024**3  # largest artifact (all its files) accepted
    reserve_bytes: Annotated[int, Field(ge=0, le=64 * 1024**3)] = 256 * 1024**2  # free disk left after staging one

    def key_problems(self) -> list[str]:
        """One line per public key file that cannot be used (missing, unreadable, not an Ed25519 PEM public key); blocking."""
        from edge.artifacts.errors import ArtifactError
        from edge.artifacts.manifest import (
            load_public_key,  # cryptography loads only where keys are used
        )

        problems = []
        for i, path in enumerate(self.public_keys):
            try:
                load_public_key(path)
            except ArtifactError as err:
                problems.append(f"artifacts.public_keys[{i}]: {err}")
        return problems


class Config(_Section):
    """The whole daemon configuration: the core sections here, one optional table per job (see `config_model`)."""

    jobs: ClassVar[tuple[JobSpec, ...]] = ()  # the jobs this model has a table for

    store: StoreSection
    data: DataSection = DataSection()
    broker: BrokerSection = BrokerSection()
    outbox: OutboxSection = OutboxSection()
    log: LogSection = LogSection()
    http: HttpSection = HttpSection()
    prices: PricesSection = PricesSection()
    telemetry: TelemetrySection = TelemetrySection()
    artifacts: ArtifactsSection = ArtifactsSection()

    @property
    def database_path(self) -> Path:
        """The one SQLite file that holds all durable state."""
        return self.data.dir / "store-edge.db"

    def redacted(self) -> dict[str, Any]:
        """The running configuration for `config.get`: paths to secrets stay, secret values never appear."""
        return self.model_dump(mode="json")


class SecretFileError(OSError):
    """A password or token file that is not a small regular file of UTF-8 text."""


def read_secret(path: Path) -> str:
    """A password or token file's text, stripped: a regular file of at most MAX_SECRET_BYTES (never a FIFO that blocks)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO must not wait for a writer
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SecretFileError(f"{path} is not a regular file")
        data = f.read(MAX_SECRET_BYTES + 1)
    if len(data) > MAX_SECRET_BYTES:
        raise SecretFileError(f"{path} is larger than {MAX_SECRET_BYTES} bytes")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretFileError(f"{path} is not UTF-8 text") from None


def resolve_paths(model: BaseModel, base: Path) -> Any:
    """A copy of `model` whose relative paths written in the file are made absolute under `base` (the configuration's folder).

    Only values the file sets are resolved: a default path means what its section documents.
    """
    updates: dict[str, Any] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        resolved = _resolve_value(value, base)
        if resolved is not value:
            updates[name] = resolved
    return model.model_copy(update=updates) if updates else model


def _resolve_value(value: Any, base: Path) -> Any:
    """A path under `base`, a model or a list/tuple of them resolved, anything else as it is."""
    if isinstance(value, Path):
        return value if value.is_absolute() else Path(os.path.normpath(base / value))
    if isinstance(value, BaseModel):
        return resolve_paths(value, base)
    if isinstance(value, (list, tuple)):
        items = [_resolve_value(v, base) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else type(value)(items)
    return value


@functools.cache
def config_model(jobs: tuple[JobSpec, ...]) -> type[Config]:
    """The configuration model with an optional `[name]` table for each job, validated by the job's own section model."""
    core = set(Config.model_fields)
    clash = [spec.name for spec in jobs if spec.name in core]
    if clash:
        raise ValueError(f"job name(s) {', '.join(clash)} collide with core configuration sections")
    fields: dict[str, Any] = {spec.name: (spec.section | None, None) for spec in jobs}
    model = create_model("Config", __base__=Config, __doc__=Config.__doc__, **fields)
    model.jobs = jobs
    return model


ENV_OVERRIDES = {
    "STORE_EDGE_BROKER": ("broker", "url"),
    "STORE_EDGE_STORE_ID": ("store", "id"),
    "STORE_EDGE_DATA_DIR": ("data", "dir"),
    "STORE_EDGE_HTTP_LISTEN": ("http", "listen"),
}


def _apply_env(raw: dict[str, Any], env: dict[str, str]) -> None:
    """Environment overrides win over the file, so one file serves many stores and test runs (a relative data dir is the working directory's)."""
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            table = raw.setdefault(section, {})
            if not isinstance(table, dict):
                continue  # a malformed section: validation reports it with its key path
            table[key] = str(Path(env[var]).absolute()) if var == "STORE_EDGE_DATA_DIR" else env[var]
            if var == "STORE_EDGE_BROKER":
                table.pop("urls", None)  # the one broker named in the environment replaces the file's list


def _known_keys(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """Field names valid at a key path (through tables, optional tables and arrays of tables), for hints."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue  # an index into an array of tables: the item model is resolved below
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = _item_model(field.annotation)
    return list(getattr(_item_model(current), "model_fields", {}))


def _item_model(annotation: Any) -> Any:
    """The model inside `X | None` or `list[X]`, else the annotation itself."""
    for arg in getattr(annotation, "__args__", ()) or ():
        inner = _item_model(arg)
        if hasattr(inner, "model_fields"):
            return inner
    return annotation


def _describe(error: dict[str, Any], model: type[Config]) -> str:
    """One line per validation error: key path, what is wrong, and a hint."""
    loc = tuple(error["loc"])
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else (f"; known keys: {', '.join(known)}" if known else "")
        if len(loc) == 1 and not close:
            installed = ", ".join(spec.name for spec in model.jobs) or "none"
            hint += f" (no job of that name is installed; installed jobs: {installed})"
        return f"{path}: unknown key{hint}"
    if kind == "missing":
        return f"{path}: required value is missing"
    got = error.get("input")
    shown = repr(got) if not isinstance(got, dict) else "a table"
    return f"{path}: {error['msg']} (got {shown})"


def parse_config(
    raw: dict[str, Any], source: str = "<config>", env: dict[str, str] | None = None, jobs: Sequence[JobSpec] | None = None
) -> Config:
    """Validate a raw TOML document (plus environment overrides) into a frozen Config for `jobs` (default: the installed ones)."""
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    _apply_env(raw, dict(os.environ) if env is None else env)
    model = config_model(installed_jobs() if jobs is None else tuple(jobs))
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(source, [_describe(e, model) for e in err.errors()]) from None


def load_config(path: Path, env: dict[str, str] | None = None, jobs: Sequence[JobSpec] | None = None) -> Config:
    """Read and validate a TOML configuration file; relative paths in it are relative to the file's folder, wherever it runs."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(str(path), [f"cannot read file: {err.strerror}"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), [f"not valid TOML: {err}"]) from None
    config = parse_config(raw, str(path), env, jobs)
    resolved: Config = resolve_paths(config, path.absolute().parent)
    return resolved
