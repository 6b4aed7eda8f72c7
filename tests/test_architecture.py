"""The rooms stay apart (core ↛ jobs, job ↛ job, devices ↛ edge), and a new job needs no change to the core."""

from __future__ import annotations

import ast
import asyncio
import re
import sys
import types
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import BaseModel

from edge.app import App
from edge.config import ConfigError, parse_config
from edge.demo.hq import Hq
from edge.jobs import JobSpec, installed_jobs

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included), as absolute names."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _job_packages() -> dict[str, str]:
    """Job name -> its package, from where each installed spec's build function lives."""
    return {spec.name: spec.build.__module__.rsplit(".", 1)[0] for spec in installed_jobs()}


def _inside(module: str, package: str) -> bool:
    """Whether `module` is `package` or below it."""
    return module == package or module.startswith(package + ".")


def _module(path: Path) -> str:
    """The dotted module name of a source file."""
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def test_the_installed_jobs_come_from_the_entry_points() -> None:
    assert [spec.name for spec in installed_jobs()] == ["esl", "scale", "screen"]
    assert _job_packages() == {"esl": "edge.esl", "scale": "edge.scale", "screen": "edge.screen"}


def test_no_core_module_imports_a_job_and_no_job_imports_another() -> None:
    packages = _job_packages()
    problems = []
    for path in sorted((REPO / "edge").rglob("*.py")):
        module = _module(path)
        owner = next((name for name, pkg in packages.items() if _inside(module, pkg)), None)
        for imported in _imports(path):
            for name, pkg in packages.items():
                if _inside(imported, pkg) and name != owner:
                    problems.append(f"{module} imports {imported} ({'core' if owner is None else 'job ' + owner} → job {name})")
    assert problems == []


def test_drivers_know_nothing_of_the_daemon() -> None:
    problems = [f"{_module(p)} imports {m}" for p in sorted((REPO / "devices").rglob("*.py")) for m in _imports(p) if _inside(m, "edge")]
    assert problems == []


def test_a_job_spec_is_checked_when_it_is_made() -> None:
    class NoEnabled(BaseModel):
        """A section without the switch every job table has."""

    class Section(BaseModel):
        """A minimal valid section."""

        enabled: bool = True

    with pytest.raises(ValueError, match="lower-case identifier"):
        JobSpec(name="Door-Counter", section=Section, migrations=[], build=lambda ctx: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="enabled"):
        JobSpec(name="door", section=NoEnabled, migrations=[], build=lambda ctx: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="collide"):
        parse_config({"store": {"id": "s1"}}, env={}, jobs=[JobSpec(name="broker", section=Section, migrations=[], build=lambda ctx: None)])  # type: ignore[arg-type,return-value]


def _door_module() -> types.ModuleType:
    """The worked example of docs/architecture.md, exactly as printed there, as a module."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    code = next(block for block in re.findall(r"```python\n(.*?)```", text, re.S) if block.startswith('"""A door counter'))
    module = types.ModuleType("door_counter")
    sys.modules["door_counter"] = module  # pydantic resolves the postponed annotations through it, as for an installed module
    exec(compile(code, "docs/architecture.md", "exec"), module.__dict__)  # noqa: S102 - our own documentation
    return module


async def test_the_documented_example_job_runs_in_a_real_daemon_without_core_changes(broker: Any, tmp_path: Path) -> None:
    door = _door_module()
    jobs = [*installed_jobs(), door.JOB]
    raw = {"store": {"id": "s1"}, "data": {"dir": str(tmp_path / "data")}, "broker": {"url": broker.url},
           "http": {"listen": "127.0.0.1:0"}, "log": {"level": "warning"}, "door": {"door": "north"}}
    with pytest.raises(ConfigError, match=r"door\.door: String should match pattern"):
        parse_config({**raw, "door": {"door": "North Door"}}, env={}, jobs=jobs)
    with pytest.raises(ConfigError, match=r"door: unknown key"):
        parse_config(raw, env={})  # not installed: the table is a mistake
    app = await App.create(parse_config(raw, env={}, jobs=jobs))
    task = asyncio.create_task(app.run())
    hq = await asyncio.to_thread(Hq, broker.port, "s1")
    try:
        await asyncio.to_thread(hq.wait, lambda _: [s for s in hq.statuses() if s["state"] == "online"], 15)
        first = await asyncio.to_thread(hq.request, "door.count", {"people": 3}, "c-1", 10)
        again = await asyncio.to_thread(hq.request, "door.count", {"people": 3}, "c-1", 10)  # a repeat: applied once
        second = await asyncio.to_thread(hq.request, "door.count", {"people": 2}, "c-2", 10)
        bad = await asyncio.to_thread(hq.request, "door.count", {"people": 0}, "c-3", 10)
        assert first == again and first["result"] == {"total": 3} and second["result"] == {"total": 5}
        assert bad["error"]["code"] == "invalid_argument" and "people" in bad["error"]["message"]
        events = await asyncio.to_thread(hq.wait, lambda _: (e := hq.events("door.counted")) and len(e) >= 2 and e, 10)
        assert [e["data"]["total"] for e in events] == [3, 5]
        status = await app.status()
        assert status["schema_versions"]["door"] == 1
        assert status["components"]["door"]["healthy"] and status["components"]["door"]["detail"] == {"door": "north", "total": 5}
        assert app.web is not None
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{app.web.port}/api/door") as r:
            assert r.status == 200 and await r.json() == {"door": "north", "total": 5}
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 15)
        hq.close()
