"""Every JSON request example in the MQTT docs, sent as written to a real daemon through a real broker.

A request example is a one-line JSON object with an `id` (and no `ok`, `seq` or `kind`) inside a
```json block of `docs/mqtt-api.md` or `docs/mqtt-api/*.md`. Its command is the `→ cmd/<name>` in
front of it, or else the command named in the heading above it; the reply example that follows it (same
`id`, with `ok`) says what must come back: ok with a result of the same shape, or the same error
code. A string elided with `…` (a base64 image) is filled with a real value of the same kind.
Examples run in document order against one daemon, after the catalogue their SKUs need.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edge.demo.hq import Hq
from tests.conftest import wait_online

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "docs/mqtt-api.md", *sorted((REPO / "docs/mqtt-api").glob("*.md"))]
PRODUCE = REPO / "config/scale-produce.json"
_BLOCK = re.compile(r"```json\n(.*?)```", re.S)
_HEADING = re.compile(r"^#{2,4} (?:Command )?`([a-z][a-z0-9_.]*)`", re.M)
_ARROW = re.compile(r"^(?:→|->)\s*cmd/(?P<name>[a-z][a-z0-9_.]*)\s+(?P<json>\{.*\})\s*$")
_REPLY = re.compile(r"^(?:←|<-)?\s*(?P<json>\{.*\})\s*$")


@dataclass
class Example:
    """One request example and the reply its page shows."""

    where: str
    command: str
    request: dict[str, Any]
    reply: dict[str, Any] | None


def _json_line(line: str) -> dict[str, Any] | None:
    """The JSON object on one line (after an optional ←), or None."""
    match = _REPLY.match(line.strip())
    if match is None:
        return None
    try:
        value = json.loads(match["json"])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def examples() -> list[Example]:
    """Every request example of the MQTT docs, in document order."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for block in _BLOCK.finditer(text):
            headings = _HEADING.findall(text[: block.start()])
            lines = block[1].splitlines()
            for n, line in enumerate(lines):
                arrow = _ARROW.match(line.strip())
                body = json.loads(arrow["json"]) if arrow else _json_line(line)
                if body is None or "id" not in body or {"ok", "seq", "kind"} & set(body):
                    continue
                command = arrow["name"] if arrow else (headings[-1] if headings else "")
                reply = next((r for r in map(_json_line, lines[n + 1:]) if r and r.get("id") == body["id"] and "ok" in r), None)
                found.append(Example(f"{path.relative_to(REPO)}: {line.strip()[:60]}", command, body, reply))
    return found


def _jpeg() -> bytes:
    """A small colourful JPEG (JFIF), the kind of photo `scale.enroll` takes."""
    rng = np.random.default_rng(7)
    image = Image.fromarray(rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)).resize((256, 256), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _fill(value: Any, photo: str) -> Any:
    """The request with every `…`-elided string filled: a base64 JPEG prefix becomes a whole JPEG."""
    if isinstance(value, dict):
        return {k: _fill(v, photo) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, photo) for v in value]
    if isinstance(value, str) and value.endswith("…"):
        assert photo.startswith(value[:-1]), f"elided value {value!r} is not the start of a base64 JPEG"
        return photo
    return value


def _skus(value: Any) -> set[str]:
    """Every `sku` named anywhere in a request (the products the store must have for it)."""
    if isinstance(value, dict):
        return {str(v) for k, v in value.items() if k == "sku"} | {s for v in value.values() for s in _skus(v)}
    if isinstance(value, list):
        return {s for v in value for s in _skus(v)}
    return set()


def _shape(value: Any) -> Any:
    """Keys (recursively) of a JSON value, for comparing a reply with the documented one."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__ if value is not None else None


def _same_shape(got: Any, documented: Any) -> bool:
    """Every documented key is there with a value of the documented kind (null in the docs matches anything)."""
    if documented is None:
        return True
    if isinstance(documented, dict):
        return isinstance(got, dict) and all(k in got and _same_shape(got[k], v) for k, v in documented.items())
    if isinstance(documented, list):
        return isinstance(got, list) and (not documented or (bool(got) and _same_shape(got[0], documented[0])))
    return got == documented or (documented in ("int", "float") and got in ("int", "float"))


async def test_every_request_example_in_the_docs_works_as_written(broker, daemon_factory, hq_factory) -> None:
    found = examples()
    assert {e.command for e in found} >= {"label.bind", "scale.enroll", "scale.gallery"}, [e.where for e in found]
    assert all(e.command for e in found), [e.where for e in found if not e.command]
    daemon = daemon_factory(
        broker.url,
        esl={"backend": "simulated", "simulated": {"labels": 12, "time_scale": 0.0}},
        scale={"produce_file": str(PRODUCE), "seed_products": True, "scales": []},
    ).start()
    hq: Hq = hq_factory(broker.port)
    await asyncio.to_thread(wait_online, hq, 1, 60)
    skus = sorted({sku for e in found for sku in _skus(e.request)} - {"P-BANANA"})  # P-BANANA: the produce file's
    setup = await asyncio.to_thread(hq.request, "product.upsert", {
        "items": [{"sku": sku, "name": f"示例 {sku}", "price": "12.80"} for sku in skus]}, None, 30.0)
    assert setup["ok"], setup
    photo = base64.b64encode(await asyncio.to_thread(_jpeg)).decode()
    problems = []
    for example in found:
        request = _fill(example.request, photo)
        reply: dict[str, Any] = {}
        for attempt in range(30):  # `busy` while the produce model is still loading: retried as the contract says
            await asyncio.to_thread(hq.send, example.command, json.dumps(request, ensure_ascii=False), request["id"])
            reply = await asyncio.to_thread(hq.wait, lambda _, rid=request["id"], name=example.command: next(
                (r for r in hq.replies(name) if r.get("id") == rid), None), 60.0)
            if reply["ok"] or reply["error"]["code"] != "busy":
                break
            await asyncio.sleep(1)
            request = {**request, "id": f"{example.request['id']}-retry{attempt}"}
        documented = example.reply or {"ok": True}
        if reply["ok"] != documented["ok"]:
            problems.append(f"{example.where}: documented ok={documented['ok']}, got {reply}")
        elif not reply["ok"] and reply["error"]["code"] != documented["error"]["code"]:
            problems.append(f"{example.where}: documented {documented['error']['code']}, got {reply['error']}")
        elif reply["ok"] and "result" in documented and not _same_shape(_shape(reply["result"]), _shape(documented["result"])):
            problems.append(f"{example.where}: result {reply['result']} is not shaped like the documented {documented['result']}")
    assert not problems, "\n".join(problems) + "\n" + daemon.log()[-2000:]
