"""Log lines are bounded whatever a caller passes (issue 11: limits on log line sizes)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.helpers.daemon import REPO

SCRIPT = textwrap.dedent("""
    import structlog
    from edge.logs import configure
    configure("info", "logfmt")
    log = structlog.get_logger("t")
    log.warning("huge", field="x" * 5_000_000, other=["y" * 10] * 100_000, small="ok")
    try:
        raise ValueError("z" * 1_000_000)
    except ValueError:
        log.exception("failed")
""")


def test_no_log_line_grows_with_what_was_passed() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    lines = done.stderr.splitlines()
    huge = next(line for line in lines if "event=huge" in line)
    assert len(huge) < 5_000 and "small=ok" in huge and "(+4998000 chars)" in huge
    assert len(done.stderr) < 30_000  # the traceback too: its message was a megabyte
