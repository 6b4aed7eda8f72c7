"""The report of a shelf = catalogue proof, as HTML (figures, the audit chain's head, the failing labels) and CSV (one
row per failing label), streamed from the store so a proof of every label of a large store costs little memory.

Like the cold-chain report: no scripts, no external resources, so the file opens offline and can be archived. Every
CSV cell is a label id, SKU, hex digest, outcome word, place as JSON or a reason the daemon wrote (none starts with a
character a spreadsheet would run as a formula).
"""

from __future__ import annotations

import csv
import html
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from edge.esl.prices.proof_tables import LABELS, PROOFS

COLUMNS = ("label", "sku", "content", "audit", "place", "reason", "requeued", "shown_digest", "expected_digest",
           "audit_digest", "expected_place", "found_place")
#: Failing labels fetched per query while writing.
PAGE = 1_000
#: What each outcome means, for the report's reader.
MEANING = {
    ("content", "ok"): "shows what its product renders to now · 与目录一致",
    ("content", "stale"): "shows another image (a price not in force) · 显示过期内容",
    ("content", "not_shown"): "never acknowledged an image · 从未显示",
    ("content", "no_product"): "bound to a product the catalogue no longer has · 商品不存在",
    ("content", "unrenderable"): "its product cannot be rendered now · 无法生成",
    ("audit", "ok"): "its acknowledged image is its newest audit row · 审计一致",
    ("audit", "differs"): "its newest audit row records another image · 审计不一致",
    ("audit", "none"): "no audit row kept (older than retention, or before the trail) · 无审计记录",
    ("place", "ok"): "located where the planogram puts its product · 货签对位",
    ("place", "misplaced"): "located elsewhere than planned · 货签错位",
    ("place", "unknown"): "not located, or its product not in the planogram · 位置未知",
}


@dataclass(frozen=True)
class Report:
    """One recorded proof (its row, counts parsed), the store's name and time zone."""

    row: dict[str, Any]
    store_name: str
    tz: ZoneInfo

    @classmethod
    def load(cls, conn: sqlite3.Connection, proof: int, store_name: str, tz: ZoneInfo) -> Report:
        """The proof's row from the store."""
        cur = conn.execute(f"SELECT * FROM {PROOFS} WHERE id = ?", (proof,))
        row = dict(zip([c[0] for c in cur.description], cur.fetchone()))
        row["counts"] = json.loads(row["counts"])
        return cls(row, store_name, tz)

    def failing(self, conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
        """The failing labels in label order, a page at a time."""
        after = ""
        while True:
            rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM {LABELS} WHERE proof = ? AND label > ? ORDER BY label LIMIT ?",
                                (self.row["id"], after, PAGE)).fetchall()
            if not rows:
                return
            for r in rows:
                yield dict(zip(COLUMNS, r))
            after = rows[-1][0]


def write_csv(report: Report, conn: sqlite3.Connection, out: TextIO) -> None:
    """One row per failing label (RFC 4180, header first); nulls as empty cells, `requeued` as true/false."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for f in report.failing(conn):
        writer.writerow(["" if f[c] is None else ("true" if f[c] else "false") if c == "requeued" else f[c] for c in COLUMNS])


def _cell(value: Any) -> str:
    """A table cell, escaped; a dash for nothing."""
    return f"<td>{html.escape('–' if value is None or value == '' else str(value))}</td>"


def write_html(report: Report, conn: sqlite3.Connection, out: TextIO) -> None:
    """The report page: what was proven and when, the figures per check, the audit chain's head, every failing label."""
    r = report.row
    scope = ", ".join(f"{k} {r[k]}" for k in ("label", "sku") if r[k]) or "every bound label · 全部价签"
    out.write(
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">'
        f"<title>价签核验 Shelf = catalogue proof {html.escape(r['day'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.bad{color:#b00}</style></head><body>"
        f"<h1>价签核验 Shelf = catalogue proof — {html.escape(report.store_name)} — {html.escape(r['day'])} ({report.tz.key})</h1>"
        "<table>"
        + "".join(f"<tr><th>{k}</th>{_cell(v)}</tr>" for k, v in (
            ("proof", f"{r['id']} ({r['kind']})"), ("scope", scope), ("started", r["started_at"]), ("finished", r["finished_at"]),
            ("labels checked", r["labels"]), ("passed", r["ok"]), ("failing", r["failing"]), ("pushed again", r["requeued"]),
            ("audit chain head", f"row {r['chain_id']}, hash {r['chain_hash']}"), ("requested by", r["request_id"] and f"{r['request_id']} ({r['sender'] or '–'})")))
        + "</table><h2>Checks · 核验项</h2><table><tr><th>check</th><th>outcome</th><th>labels</th><th>meaning</th></tr>"
    )
    for check, outcomes in r["counts"].items():
        for outcome, n in outcomes.items():
            out.write(f"<tr>{_cell(check)}{_cell(outcome)}{_cell(n)}{_cell(MEANING.get((check, outcome)))}</tr>")
    out.write(f"</table><h2>Failing labels · 未通过价签 ({r['failing']})</h2><table><tr>"
              + "".join(f"<th>{c}</th>" for c in COLUMNS) + "</tr>")
    empty = True
    for f in report.failing(conn):
        empty = False
        out.write('<tr class="bad">' + "".join(_cell(("yes" if f[c] else "no") if c == "requeued" else f[c]) for c in COLUMNS) + "</tr>")
    if empty:
        out.write(f'<tr><td colspan="{len(COLUMNS)}">none · 全部通过</td></tr>')
    out.write("</table></body></html>\n")
