"""`store-edge init`: the first-run helper; makes the API token file and says how to make the other files the configuration names."""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
from pathlib import Path

from edge.cli._options import config_command
from edge.cli.daemon import load_or_exit
from edge.config_files import check_files, group_name

TOKEN_MODE = 0o640  # owner and the service group (the configuration file's group)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `init`."""
    config_command(
        subparsers, "init", _init, help="first run: create the API token file, say how to make the broker password and certificates",
        description="Create [http] token_file (a random token, mode 0640, group of the configuration file) if it does not exist, "
                    "then list what is still missing with the command that makes each (as `check` would report it). "
                    "Existing files are never changed.",
        config_help="TOML configuration file (install it first)",
    )


def _init(args: argparse.Namespace) -> int:
    """Make the token, then show what is left."""
    config = load_or_exit(args.config)
    group_id = args.config.stat().st_gid
    token_file = config.http.token_file
    if token_file is None:
        print("http.token_file is not set: the status API answers without a token (set it, e.g. token_file = \"http.token\")")
    elif token_file.exists():
        print(f"kept {token_file} (it exists; nothing changed)")
    else:
        try:
            print(_make_token(token_file, group_id))
        except OSError as err:
            print(f"could not create {token_file}: {err.strerror or err}")
            return 1
    b = config.broker
    if b.cert_file is not None and b.key_file is not None and not (b.cert_file.exists() and b.key_file.exists()):
        key, csr = shlex.quote(str(b.key_file)), shlex.quote(str(b.key_file.with_suffix(".csr")))
        print("client certificate: make a key and a signing request, send the request to headquarters and save the certificate "
              f"they sign as {b.cert_file}:\n"
              f"  (umask 027; openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout {key} -out {csr} "
              f"-subj /CN={shlex.quote(config.store.id)})\n"
              f"  chgrp {group_name(group_id)} {key}")
    left = check_files(config, args.config).problems
    if left:
        print("still to do (then run `store-edge check --config " + shlex.quote(str(args.config)) + "`):")
        print("\n".join(f"  - {line}" for line in left))
    else:
        print(f"{args.config}: every file it names is in place; next: store-edge check --config {shlex.quote(str(args.config))}")
    return 0


def _make_token(path: Path, group_id: int) -> str:
    """A new random token in a new file (never over an existing one), readable by its owner and the service group only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, TOKEN_MODE)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    os.chmod(path, TOKEN_MODE)  # whatever the umask was
    try:
        os.chown(path, -1, group_id)
    except PermissionError:
        return f"created {path} (a new API token, mode 0640; could not give it the configuration's group: run init as root)"
    return f"created {path} (a new API token, mode 0640, the configuration's group)"
