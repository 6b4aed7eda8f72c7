"""What a scale's touch screen shows: the snapshot (state, code, devices, candidates with their ≈ totals) and product cards.

Money on a card comes from the session's `price`, the very code that prices the label, in the
store's display unit; the screen formats nothing but the weight. Every state has a code the screen
maps to its own text (docs/http-api.md), so no English from the daemon reaches a customer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from edge.scale.pricing.quote import money, unit_money
from edge.scale.products import ProductView
from edge.scale.weighing.session import Phase, PriceRefused
from edge.scale.weighing.station import Station


class Screen:
    """Builds snapshots and product cards for the stations of one job."""

    def __init__(self, products: ProductView, pictures: Callable[[], dict[str, Any]], recognition_problem: Callable[[], str | None]) -> None:
        """The catalogue view, the picture index (SKU -> file) and the recognition worker's problem, read at each snapshot."""
        self.products = products
        self._pictures = pictures
        self._recognition_problem = recognition_problem
        self.printed: dict[str, tuple[int, dict[str, Any]]] = {}  # scale id -> (weighing, what its label says)

    def card(self, station: Station, sku: str, grams: int | None) -> dict[str, Any]:
        """A product as the screen shows it, with ≈ the total for `grams` gross (by weight; less the product's tare)."""
        row = self.products[sku]
        product = self.products.product(sku, date.today(), station.cfg.plu_map)
        total = None
        if grams is not None and product.basis != "piece":
            try:
                total = money(station.session.price(product, grams=grams, pieces=None, tared_by_scale=False)[0].amount)
            except PriceRefused:
                total = None
        return {
            "sku": sku,
            "name": row["name"],
            "name_en": row.get("name_en") or None,
            "category": self.products.category(sku),
            "sale_mode": row["sale_mode"],
            "plu": product.plu,
            "price": unit_money(product.unit_price) if product.unit_price is not None else None,
            "unit": product.basis,
            "tare_g": product.tare_grams,
            "total": total,
            "picture": sku in self._pictures(),
        }

    def offered_grams(self, station: Station) -> int | None:
        """The stable weight on offer (a settled, unlabelled item), or None."""
        session = station.session
        if session.current is None or session.phase in (Phase.EMPTY, Phase.PLACING, Phase.CONFIRMED):
            return None
        return session.current.grams

    def state(self, station: Station) -> tuple[str, str]:
        """(state, code) of the screen now; see the state table of docs/http-api.md."""
        down = station.out_of_service()
        if down is not None:
            return "out_of_service", down
        if station.printing:
            return "printing", "printing"
        session, weighing = station.session, station.session.current
        changed = "weight_changed" if session.problem_code == "weight_changed" else None
        match session.phase:
            case Phase.EMPTY:
                return "place_item", "place_item"
            case Phase.PLACING:
                if session.problem_code == "below_minimum":
                    return "place_item", "below_minimum"
                return "weighing", changed or "weighing"
            case Phase.STABLE:
                return "recognising", changed or "recognising"
            case Phase.OFFERED if weighing is not None and weighing.unrecognised:
                return "unrecognised", "recognition_unavailable" if self._recognition_problem() else "unrecognised"
            case Phase.OFFERED:
                return "choose", "choose"
            case Phase.EXPIRED:
                return "expired", "expired"
            case Phase.CANCELLED:
                return "cancelled", "cancelled"
        return "printed", "printed"

    def snapshot(self, station: Station) -> dict[str, Any]:
        """Everything the screen shows, in one JSON object (docs/http-api.md, the snapshot)."""
        session, weighing = station.session, station.session.current
        state, code = self.state(station)
        grams = self.offered_grams(station)
        shown = [] if weighing is None or state != "choose" else [  # tiles only while they can be tapped
            {"rank": i + 1, "score": round(c.score, 4), **self.card(station, c.sku, grams)}
            for i, c in enumerate(weighing.candidates) if c.sku in self.products
        ]
        left = session.window_left(station.clock())
        printed = self.printed.get(station.id)
        devices = {"daemon": "ok", **station.devices_state(), "recognition": "ok" if self._recognition_problem() is None else "unavailable"}
        return {
            "scale_id": station.id,
            "phase": session.phase.value,
            "state": state,
            "code": code,
            "grams": session.grams,
            "stable": session.phase in (Phase.STABLE, Phase.OFFERED, Phase.CONFIRMED, Phase.EXPIRED, Phase.CANCELLED),
            "weighing": None if weighing is None else weighing.number,
            "offered_grams": None if weighing is None else weighing.grams,
            "unsure": None if weighing is None else weighing.unsure,
            "problem": (weighing.problem if weighing is not None and weighing.problem else None) or session.problem,
            "clock_s": int(station.clock()),
            "display_unit": self.products.display_unit,
            "min_grams": station.cfg.min_grams,
            "confirm_timeout_s": session.rules.confirm_timeout_s,
            "window_left_s": None if left is None or state != "choose" else int(left + 0.999),
            "out_of_service": state == "out_of_service",
            "devices": devices,
            "candidates": shown,
            "printed": printed[1] if printed is not None and session.phase is Phase.CONFIRMED and weighing is not None
            and printed[0] == weighing.number else None,
        }
