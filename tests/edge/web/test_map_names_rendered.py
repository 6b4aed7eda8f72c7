"""The store map's names as Chromium actually renders them: no two pieces of text overlap, on the demo's floor."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from edge.esl.map.picture import draw
from edge.esl.map.storemap import Layout, MapSection, Place, StoreMap, build
from edge.esl.picking.routing import Router
from tests.helpers.loopwatch import WATCH

BOXES = """() => [...document.querySelectorAll('svg text')].filter((t) => !t.classList.contains('stop')).map((t) => {
  const r = t.getBoundingClientRect();  // after the quarter turn of names along narrow runs
  return [t.textContent, r.left, r.top, r.right, r.bottom];
})"""


def demo_floor() -> tuple[StoreMap, str]:
    """config/demo.toml's floor and its picture with labels, a deviation and a pick walk (CPU work: run off the loop)."""
    m = build(MapSection(layout=Layout(aisles=12, bays=10, levels=5)))
    places = [Place("A01L", 2, 1), Place("A05R", 4, 2), Place(endcap="E02", level=1), Place(endcap="E07", level=1)]
    walk = Router(m).walk([(p, m.node(p.spot)) for p in places])
    labels = [(Place(s.id, b, 3) if s.kind == "run" else Place(endcap=s.id, level=3), 0.95) for s in m.shelves.values() for b in (1, 5)]
    svg = draw(m, labels, [(Place(endcap="E05", level=2), "misplaced")], [(leg.key, "green") for leg in walk.stops], "Pick walk WEB-2000")
    return m, svg


async def test_rendered_names_of_the_demo_floor_do_not_overlap(browser: Any) -> None:
    m, svg = await asyncio.to_thread(demo_floor)
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        with WATCH.allowed():  # Playwright serialises the large page into its pipe on our loop
            await page.set_content(f"<!doctype html><body style='margin:0'>{svg}</body>")
        boxes = await page.evaluate(BOXES)
    finally:
        await page.close()
    shown = {b[0] for b in boxes}
    assert set(m.shelves) <= shown and "entrance" in shown and "planogram deviation" in shown
    clashes = [(a[0], b[0]) for a, b in itertools.combinations(boxes, 2)
               if min(a[3], b[3]) - max(a[1], b[1]) > 0.5 and min(a[4], b[4]) - max(a[2], b[2]) > 0.5]
    assert clashes == []
