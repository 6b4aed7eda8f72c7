"""The scale job: wires the stations, the recognition worker and the catalogue view, and serves the customers' taps.

Every completed weighing is one `weighing` event, written with the sale row (and any learned
example) in one transaction. The touch screen (edge/scale/web/) calls `candidates()` and
`confirm()`; headquarters manages the gallery through edge/scale/commands.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import structlog

from edge.jobs import JobContext
from edge.scale.commands import GalleryCommands
from edge.scale.config import ScaleSection
from edge.scale.errors import ScaleJobError
from edge.scale.pricing.quote import Product, money
from edge.scale.products import ProductView, unit_price
from edge.scale import learning
from edge.scale.recognition import produce_map, stored
from edge.scale.recognition.worker import TOP_K, RecognitionWorker
from edge.scale.weighing.devices import build_devices
from edge.scale.weighing.session import Sale, SessionError
from edge.scale.weighing.station import Station
from edge.store import Tx
from edge.store.db import utc_now

log = structlog.get_logger("scale")


class ScaleJob:
    """Component running every configured scale; see the module docstring."""

    name = "scale"

    def __init__(self, ctx: JobContext) -> None:
        """Load the model and base gallery, build the stations and register the commands (blocking: built off the loop)."""
        self.ctx = ctx
        self.cfg: ScaleSection = ctx.section
        self.recognition = RecognitionWorker(self.cfg)
        try:
            tz: Any = ZoneInfo(ctx.config.store.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            tz = UTC
        self.stations: dict[str, Station] = {
            s.id: Station(
                s,
                build_devices(s, ctx.data_dir),
                self.recognition.recognize,
                confirm_timeout_s=self.cfg.confirm_timeout_s,
                change_divisions=self.cfg.change_divisions,
                timezone=tz,
            )
            for s in self.cfg.scales
        }
        self.products = ProductView()
        self.weighings = 0
        GalleryCommands(self.recognition, self.cfg.learning).register(ctx.registry)
        ctx.scheduler.every("scale.telemetry", 30, self._telemetry)

    @property
    def produce(self) -> produce_map.ProduceMap:
        """Which catalogue product each model class is (and the demo products)."""
        return self.recognition.produce

    @property
    def model_version(self) -> str:
        """The produce model's version ("" when recognition is unavailable)."""
        return self.recognition.model_version

    @property
    def gallery(self) -> Any:
        """The live gallery (read it only for figures: the worker thread owns it)."""
        return self.recognition.gallery

    # ----- lifetime -----------------------------------------------------------------------
    async def run(self) -> None:
        """Seed/refresh the catalogue view, rebuild the gallery from SQLite, run every station."""
        store, version = self.ctx.store, self.recognition.model_version
        if self.cfg.seed_products and self.produce.products:
            seeded = await store.write(lambda tx: produce_map.seed(tx, self.produce.products))
            if seeded:
                log.info("scale.products.seeded", count=seeded)
        await self.products.refresh(store)
        examples = await store.read(lambda db: stored.examples(db, version))
        await self.recognition.rebuild(examples)
        log.info("scale.gallery.ready", products=len(self.gallery), learned=len(examples), model=version)
        async with asyncio.TaskGroup() as group:
            group.create_task(self.products.follow(store), name="scale-catalog")
            for station in self.stations.values():
                group.create_task(station.run(), name=f"scale-station:{station.id}")

    async def stop(self) -> None:
        """Close the devices; recognition in flight is abandoned (no label without a confirmation)."""
        await asyncio.gather(*(s.close() for s in self.stations.values()), return_exceptions=True)
        self.recognition.shutdown()

    @property
    def healthy(self) -> bool:
        """Every scale answers, its camera streams and its printer works."""
        return all(s.healthy for s in self.stations.values()) and self.recognition.problem is None

    def health(self) -> dict[str, Any]:
        """Per-scale state, gallery size and model version."""
        return {
            "model_version": self.recognition.model_version,
            "gallery_products": len(self.gallery),
            "weighings": self.weighings,
            "problem": self.recognition.problem,
            "scales": {sid: s.health() for sid, s in self.stations.items()},
        }

    async def _telemetry(self) -> None:
        """Latest-value health figures for HQ."""
        self.ctx.telemetry("scale", self.health())

    # ----- customer interaction -----------------------------------------------------------
    def _station(self, scale_id: str) -> Station:
        """The station called `scale_id`, or a typed error."""
        station = self.stations.get(scale_id)
        if station is None:
            raise ScaleJobError("not_found", f"no scale {scale_id!r}")
        return station

    def candidates(self, scale_id: str) -> dict[str, Any]:
        """What the touch screen shows now: phase, weight, and the offered products (rank, score, name, price)."""
        station = self._station(scale_id)
        session = station.session
        weighing = session.current
        offered = [] if weighing is None else [
            {"rank": i + 1, "score": round(c.score, 4), **self.products.describe(c.sku)} for i, c in enumerate(weighing.candidates)
        ]
        return {
            "scale_id": scale_id,
            "phase": session.phase.value,
            "grams": session.grams,
            "weighing": None if weighing is None else weighing.number,
            "offered_grams": None if weighing is None else weighing.grams,
            "candidates": offered,
            "unsure": None if weighing is None else weighing.unsure,
            "problem": (weighing.problem if weighing is not None and weighing.problem else None) or session.problem,
        }

    def search(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Products whose name, English name, pinyin (full or initials), sku or PLU contain `text`."""
        return self.products.search(text, limit)

    async def confirm(self, scale_id: str, choice: str | int, pieces: int | None = None) -> dict[str, Any]:
        """The customer's tap: a SKU or a candidate rank (1-based); prints the label and returns the sale."""
        station = self._station(scale_id)
        weighing = station.session.current
        if isinstance(choice, int):
            if weighing is None or not 1 <= choice <= len(weighing.candidates):
                raise ScaleJobError("invalid_argument", f"no candidate at rank {choice}")
            sku = weighing.candidates[choice - 1].sku
        else:
            sku = choice
        row = self.products.get(sku)
        if row is None:
            raise ScaleJobError("not_found", f"unknown product {sku!r}")
        plu = station.cfg.plu_map.get(sku, int(row["plu"]) if row.get("plu") else None)
        if plu is None:
            raise ScaleJobError("price_refused", f"{sku} has no PLU for the label's barcode")
        product = Product(plu, row["name"], unit_price(row, date.today()), row["unit"], int(row.get("tare_g") or 0))
        embedding = station.embedding
        try:
            sale = await station.confirm(product, sku, pieces, plu)
        except SessionError as err:
            raise ScaleJobError(err.code, str(err)) from err
        verdict = learning.judge(
            self.cfg.learning, sale.candidates, sku, by_weight=product.basis != "piece", grams=sale.grams
        )
        learn = verdict.learn and embedding is not None
        event = self._event(station, sale, row, learn, verdict.reason)
        kept = await self.ctx.store.write(lambda tx: self._record(tx, station.id, sale, event, embedding if learn else None))
        if kept is not None:
            await self.recognition.rebuild(kept, sku)
        self.weighings += 1
        return event

    def _event(self, station: Station, sale: Sale, row: dict[str, Any], learned: bool, reason: str) -> dict[str, Any]:
        """The `weighing` event's data (also the reply to the touch screen)."""
        q = sale.quote
        return {
            "scale_id": station.id,
            "weighing": sale.weighing,
            "sku": sale.sku,
            "name": q.name,
            "plu": q.plu,
            "sale_mode": row["sale_mode"],
            "grams": q.net_grams,
            "scale_grams": sale.grams,
            "tare_g": sale.tare_g,
            "pieces": q.pieces,
            "unit_price": money(q.unit_price),
            "unit": q.basis,
            "amount": money(q.amount),
            "currency": "CNY",
            "barcode": sale.code,
            "barcode_layout": sale.layout,
            "candidates": [{"sku": c.sku, "score": round(c.score, 4)} for c in sale.candidates[:TOP_K]],
            "rank": sale.rank,
            "unsure": sale.unsure,
            "model_version": sale.model_version or self.recognition.model_version,
            "timings": {
                "settle_to_candidates_ms": None if sale.settle_to_candidates_ms is None else round(sale.settle_to_candidates_ms, 1),
                "candidates_to_confirm_ms": None if sale.candidates_to_confirm_ms is None else round(sale.candidates_to_confirm_ms, 1),
            },
            "learned": learned,
            "learning": reason,
        }

    def _record(
        self, tx: Tx, scale_id: str, sale: Sale, event: dict[str, Any], embedding: np.ndarray | None
    ) -> list[tuple[str, np.ndarray]] | None:
        """Sale row, learned example and the `weighing` event in one transaction; returns the product's stored examples if learned."""
        q = sale.quote
        event["sale_id"] = tx.db["scale_weighings"].insert(
            {
                "scale_id": scale_id, "weighing": sale.weighing, "sku": sale.sku, "plu": q.plu, "grams": q.net_grams,
                "pieces": q.pieces, "unit_price": money(q.unit_price), "basis": q.basis, "amount": money(q.amount),
                "barcode": sale.code, "rank": sale.rank, "learned": int(embedding is not None), "at": utc_now(),
            }
        ).last_pk
        kept = None
        if embedding is not None:
            version = self.recognition.model_version
            added = stored.add(
                tx, sale.sku, version, [embedding], source="confirm",
                max_per_product=self.cfg.learning.max_per_product, dedupe_cosine=self.cfg.learning.dedupe_cosine,
            )
            event["learned"] = bool(added)
            if not added:
                event["learning"] = "duplicate of a stored example"
            kept = stored.examples(tx.db, version, sale.sku)
        tx.emit("weighing", event)
        return kept
