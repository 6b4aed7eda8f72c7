"""`store-edge status` asks the running daemon; the API's token is enforced."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import wait_online

REPO = Path(__file__).resolve().parents[2]


def _port(daemon) -> int:  # noqa: ANN001
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = re.search(r"event=web.listening host=\S+ port=(\d+)", daemon.log())
        if found:
            return int(found.group(1))
        time.sleep(0.1)
    raise AssertionError(daemon.log())


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "status", *args], cwd=REPO, capture_output=True, text=True, timeout=30)


def test_status_shows_link_outbox_and_components(tmp_path, broker, daemon_factory, hq_factory):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    daemon = daemon_factory(broker.url, http={"listen": "127.0.0.1:0", "token_file": str(token)}).start()
    hq = hq_factory(broker.port)
    wait_online(hq)
    url = f"http://127.0.0.1:{_port(daemon)}"

    refused = status("--url", url)
    assert refused.returncode == 1 and "401" in refused.stderr

    shown = status("--url", url, "--token-file", str(token))
    assert shown.returncode == 0, shown.stderr
    assert "store s1" in shown.stdout and "link: connected" in shown.stdout and "outbox depth 0" in shown.stdout
    assert re.search(r"sync\s+ok", shown.stdout)

    raw = status("--url", url, "--token-file", str(token), "--json")
    assert '"schema_versions"' in raw.stdout
    daemon.terminate()


def test_status_without_a_daemon_says_so():
    result = status("--url", "http://127.0.0.1:9")
    assert result.returncode == 1 and "no daemon answering" in result.stderr
