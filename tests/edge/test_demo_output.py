"""`store-edge demo --output DIR` writes only into a folder it made (or an empty one) and never deletes anything else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.demo.runner import MARKER, OutputRefused, prepare_output

REPO = Path(__file__).resolve().parents[2]


def test_a_non_empty_folder_the_demo_did_not_make_is_refused_and_kept(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    (precious / "sub").mkdir()
    (precious / "sub" / "photo.jpg").write_bytes(b"\xff\xd8")
    result = subprocess.run([sys.executable, "-m", "edge.cli", "demo", "--output", str(precious)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"--output {precious} is not empty and was not made by the demo" in result.stderr and "nothing was deleted" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.relative_to(precious).as_posix() for p in precious.rglob("*")) == ["notes.txt", "sub", "sub/photo.jpg"]


def test_a_file_or_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    for name in ("file", "link"):
        with pytest.raises(OutputRefused, match="is not a folder"):
            prepare_output(tmp_path / name)
    assert (tmp_path / "file").read_text() == "x"


def test_a_new_or_empty_folder_is_marked_and_a_marked_one_is_emptied_for_the_next_run(tmp_path: Path) -> None:
    made = prepare_output(tmp_path / "new" / "out")
    assert (made / MARKER).is_file() and [p.name for p in made.iterdir()] == [MARKER]
    (made / "data").mkdir()
    (made / "data" / "store-edge.db").write_bytes(b"x")
    outside = tmp_path / "outside.txt"
    outside.write_text("not the demo's")
    (made / "link-out").symlink_to(outside)
    again = prepare_output(made)
    assert [p.name for p in again.iterdir()] == [MARKER]
    assert outside.read_text() == "not the demo's"  # a link inside was removed, not what it points to

    empty = tmp_path / "empty"
    empty.mkdir()
    assert (prepare_output(empty) / MARKER).is_file()
