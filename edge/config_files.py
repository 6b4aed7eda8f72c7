"""The files a configuration names, checked before anything starts: there, readable by the service, secrets not readable by others.

`store-edge check` prints what this finds and `store-edge run` refuses to start on a problem,
with the same lines, so a missing token or an unreadable key is one readable sentence (with
the command that fixes it) instead of a traceback and a restart loop.

The service's group is the group of the configuration file (the README installs it
`root:store-edge 0640`): a secret may be readable by its owner and that group, nobody else.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import ssl
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edge.config import Config, SecretFileError, read_secret

SECRETS = ("broker.password_file", "http.token_file", "broker.key_file")
MAX_KEY_BYTES = 64 * 1024


@dataclass
class Findings:
    """What is wrong (`problems`: the daemon would not work) and what is merely unwise (`warnings`)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Service:
    """Who reads the files: this process, and the service group the configuration file belongs to; and what the file wrote."""

    config: Path
    group_id: int
    group: str
    user: str
    raw: dict[str, Any]

    @classmethod
    def of(cls, config: Path) -> _Service:
        """The service group from the configuration file's group."""
        gid = config.stat().st_gid
        try:
            raw = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        return cls(config, gid, group_name(gid), pwd.getpwuid(os.geteuid()).pw_name, raw)

    def written_relative(self, key: str) -> bool:
        """Whether the file wrote the value at `key` (e.g. `scale.scales[0].x`) as a relative path."""
        value: Any = self.raw
        for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
            if part.startswith("["):
                index = int(part[1:-1])
                value = value[index] if isinstance(value, list) and index < len(value) else None
            else:
                value = value.get(part) if isinstance(value, dict) else None
        return isinstance(value, str) and not Path(value).is_absolute()

    def reads(self, st: os.stat_result, path: Path) -> bool:
        """Whether the service can read a file: this process can, and (run as root for a non-root group) that group can too."""
        if not os.access(path, os.R_OK):
            return False
        if os.geteuid() != 0 or self.group_id == 0:
            return True
        mode = st.st_mode
        return bool((st.st_gid == self.group_id and mode & stat.S_IRGRP) or (st.st_uid != 0 and mode & stat.S_IRUSR) or mode & stat.S_IROTH)


def group_name(gid: int) -> str:
    """A group's name, or its number when it has none."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def how_to_make(key: str, path: Path, config: Path, group: str) -> str:
    """The command (or step) that creates the file behind `key`."""
    p, c = shlex.quote(str(path)), shlex.quote(str(config))
    if key == "http.token_file":
        return f"create it: store-edge init --config {c}"
    if key == "broker.password_file":
        return f"create it: sh -c 'umask 027; printf %s \"<broker password>\" > {p}' && chgrp {group} {p}"
    if key == "broker.ca_file":
        return "save headquarters' CA certificate (PEM) there"
    if key in ("broker.cert_file", "broker.key_file"):
        return f"make the key and a signing request as `store-edge init --config {c}` shows, then save the signed certificate"
    return "check the path"


def check_files(config: Config, source: Path) -> Findings:
    """Every file `config` (read from `source`) names: the core's secrets and certificates, the jobs' paths, the data folder."""
    found = Findings()
    service = _Service.of(source)
    base = source.absolute().parent
    b = config.broker
    named = {
        "broker.password_file": b.password_file, "http.token_file": config.http.token_file,
        "broker.ca_file": b.ca_file, "broker.cert_file": b.cert_file, "broker.key_file": b.key_file,
    }
    usable = {key: _file(found, service, base, key, path) for key, path in named.items() if path is not None}
    if usable.get("broker.password_file"):
        _secret_text(found, "broker.password_file", named["broker.password_file"])
    if usable.get("http.token_file"):
        token = _secret_text(found, "http.token_file", named["http.token_file"])
        if token and not (token.isascii() and token.isprintable() and " " not in token):
            found.problems.append(f"http.token_file: {named['http.token_file']} holds characters an HTTP header cannot carry "
                                  f"(spaces, non-ASCII); make a new one: store-edge init --config {shlex.quote(str(source))}")
    _tls(found, config, usable)
    found.problems += config.artifacts.key_problems()
    _http(found, config)
    _data_dir(found, service, config.data.dir)
    for spec in config.jobs:
        section = getattr(config, spec.name, None)
        if isinstance(section, BaseModel):
            _job_paths(found, service, base, spec.name, section)
    return found


def _file(found: Findings, service: _Service, base: Path, key: str, path: Path, folder_ok: bool = False) -> bool:
    """A named file exists, is a regular file (or a folder where one is allowed), the service can read it, and a secret is not open to others."""
    under = f" (relative paths are read from {base}/)" if service.written_relative(key) else ""
    try:
        st = path.stat()
    except FileNotFoundError:
        found.problems.append(f"{key}: {path} does not exist{under}; {how_to_make(key, path, service.config, service.group)}")
        return False
    except OSError as err:
        found.problems.append(f"{key}: {path} cannot be reached ({err.strerror}): check the folders above it")
        return False
    kind_ok = stat.S_ISREG(st.st_mode) or (folder_ok and stat.S_ISDIR(st.st_mode))
    if not kind_ok:
        found.problems.append(f"{key}: {path} is not a regular file{' or folder' if folder_ok else ''}")
        return False
    mode, owner, group = stat.S_IMODE(st.st_mode), _user_name(st.st_uid), group_name(st.st_gid)
    q = shlex.quote(str(path))
    if not service.reads(st, path):
        found.problems.append(f"{key}: {path} is not readable by the service (user {service.user}, group {service.group}; "
                              f"the file is {owner}:{group} mode {mode:04o}): chgrp {service.group} {q} && chmod g+r {q}")
        return False
    if key in SECRETS:
        if mode & (stat.S_IROTH | stat.S_IWOTH):
            found.problems.append(f"{key}: {path} is a secret open to every user (mode {mode:04o}): chmod o-rwx {q}")
            return False
        if mode & stat.S_IRGRP and st.st_gid not in (service.group_id, os.getegid()):
            found.problems.append(f"{key}: {path} is a secret readable by group {group}, not only the service group {service.group} "
                                  f"(mode {mode:04o}): chgrp {service.group} {q}, or chmod g-rwx {q}")
            return False
        limit = MAX_KEY_BYTES if key == "broker.key_file" else 4096
        if st.st_size > limit:
            found.problems.append(f"{key}: {path} is {st.st_size} bytes, too large for a secret (at most {limit}): is it the right file?")
            return False
    return True


def _user_name(uid: int) -> str:
    """A user's name, or the number when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _secret_text(found: Findings, key: str, path: Path | None) -> str | None:
    """The text of a password or token file, with a problem when it is empty or unreadable."""
    assert path is not None
    try:
        text = read_secret(path)
    except (SecretFileError, OSError) as err:
        found.problems.append(f"{key}: {err}")
        return None
    if not text:
        found.problems.append(f"{key}: {path} is empty")
        return None
    return text


def _tls(found: Findings, config: Config, usable: dict[str, bool]) -> None:
    """TLS files only with mqtts://, a key only with its certificate, and both loadable by the TLS library."""
    b = config.broker
    tls_keys = [k for k in ("ca_file", "cert_file", "key_file") if getattr(b, k) is not None]
    if tls_keys and not b.tls:
        found.problems.append(f"broker.{tls_keys[0]}: set, but the broker ({','.join(a.url for a in b.addresses)}) is not TLS; use mqtts://")
    if b.key_file is not None and b.cert_file is None:
        found.problems.append("broker.key_file: set without broker.cert_file (the client certificate it belongs to)")
    try:
        if b.ca_file is not None and usable.get("broker.ca_file"):
            ssl.create_default_context(cafile=str(b.ca_file))
    except (ssl.SSLError, ValueError) as err:
        found.problems.append(f"broker.ca_file: {b.ca_file} is not a PEM certificate the TLS library accepts ({err})")
    if b.cert_file is not None and usable.get("broker.cert_file") and (b.key_file is None or usable.get("broker.key_file")):
        try:
            ssl.create_default_context().load_cert_chain(str(b.cert_file), str(b.key_file) if b.key_file else None)
        except (ssl.SSLError, ValueError) as err:
            found.problems.append(f"broker.cert_file: {b.cert_file} and its key {b.key_file} do not load together ({err})")


def _http(found: Findings, config: Config) -> None:
    """Reachable from other machines without a token: a warning, or a problem when `require_token_beyond_loopback` is set."""
    line = open_beyond_loopback(config)
    if line is not None:
        (found.problems if config.http.require_token_beyond_loopback else found.warnings).append(line)


def open_beyond_loopback(config: Config) -> str | None:
    """The sentence saying the web server would serve the status API to the store network without a token, if it would."""
    h = config.http
    if not h.enabled or not h.beyond_loopback or h.token_file is not None:
        return None
    return (f"http.listen: {h.listen} is reachable from other machines and http.token_file is not set: anyone on the network "
            "can read the status API; set a token (store-edge init) or listen on 127.0.0.1")


def _data_dir(found: Findings, service: _Service, path: Path) -> None:
    """The data folder, where it exists already, is a folder this process can write (systemd's StateDirectory makes it)."""
    if path.exists() and not (path.is_dir() and os.access(path, os.W_OK | os.X_OK)):
        found.problems.append(f"data.dir: {path} is not a folder user {service.user} can write")


def _job_paths(found: Findings, service: _Service, base: Path, prefix: str, model: BaseModel) -> None:
    """Paths a job's table sets: one that is off by default (None) must exist; one with a default place is checked where it exists."""
    for name in sorted(model.model_fields_set):
        value = getattr(model, name)
        key = f"{prefix}.{name}"
        default = type(model).model_fields[name].default
        for item_key, item in _items(key, value):
            if isinstance(item, BaseModel):
                _job_paths(found, service, base, item_key, item)
            elif isinstance(item, Path) and (default is None or item.exists()):
                _file(found, service, base, item_key, item, folder_ok=True)


def _items(key: str, value: Any) -> list[tuple[str, Any]]:
    """A value with its key path, or each item of a list with its index."""
    if isinstance(value, (list, tuple)):
        return [(f"{key}[{i}]", v) for i, v in enumerate(value)]
    return [(key, value)]
