"""The scale job: wires the stations, the recognition worker and the catalogue view, and serves the customers' taps.

Every completed weighing is one `weighing` event, written with the sale row (and any learned
example) in one transaction. The touch screen (edge/scale/web/) calls `candidates()` and
`confirm()`; headquarters manages the gallery through edge/scale/commands.py.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from datetime import UTC, date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import structlog

from edge.jobs import JobContext
from edge.scale import artifacts, learning, suspicion
from edge.scale.commands import GalleryCommands
from edge.scale.config import HOT_KEYS, ScaleSection
from edge.scale.errors import ScaleJobError
from edge.scale.pricing.quote import Product, Quote, money, unit_money
from edge.scale.products import ProductView
from edge.scale.recognition import produce_map, stored, upgrade
from edge.scale.recognition.errors import RecognitionError
from edge.scale.recognition.model import UNRECOGNISED_SCORE, is_unrecognised, is_unsure
from edge.scale.recognition.produce_map import CATEGORIES
from edge.scale.recognition.worker import TOP_K, RecognitionWorker
from edge.scale.screen import Screen
from edge.scale.sharing import SharedLearning
from edge.scale.web.pictures import iconic_index
from edge.scale.weighing.devices import build_devices
from edge.scale.weighing.session import PriceRefused, Sale, SessionError, Weighing
from edge.scale.weighing.station import Offer, Station
from edge.store import Tx
from edge.store.db import utc_now

log = structlog.get_logger("scale")

RECALL_K = 4 * TOP_K  # nearest products asked of the model, before keeping the scale catalogue's and the load's sale mode


class ScaleJob:
    """Component running every configured scale; see the module docstring."""

    name = "scale"

    def __init__(self, ctx: JobContext) -> None:
        """Load the model and base gallery, build the stations and register the commands (blocking: built off the loop)."""
        self.ctx = ctx
        self.cfg: ScaleSection = artifacts.with_active(ctx.section, ctx.data_dir)
        self.recognition = RecognitionWorker(self.cfg)
        if self.cfg is not ctx.section and self.recognition.problem is not None:
            self.recognition.shutdown()  # the core starts the job again with the previous version (artifact.rolled_back)
            raise RecognitionError(f"the active {artifacts.KIND} cannot run: {self.recognition.problem}")
        try:
            tz: Any = ZoneInfo(ctx.config.store.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            tz = UTC
        produce = self.recognition.produce
        self.products = ProductView(self.cfg, produce.categories, frozenset(produce.skus.values()))
        self.unrecognised_score = UNRECOGNISED_SCORE if self.cfg.unrecognised_score is None else self.cfg.unrecognised_score
        self.pictures: dict[str, Any] = {}  # SKU -> its iconic picture (the demo's dataset), found when the job runs
        self.screen = Screen(self.products, lambda: self.pictures, lambda: self.recognition.problem)
        self._asked: dict[str, tuple[int, str]] = {}  # scale id -> (weighing, sku) the customer was asked about
        self._crops: dict[str, tuple[np.ndarray, Future[bytes]]] = {}  # scale id -> (embedding, its frame's crop), latest
        self.stations: dict[str, Station] = {
            s.id: Station(
                s,
                build_devices(s, ctx.data_dir),
                lambda image, sid=s.id: self._recognise(image, sid),
                confirm_timeout_s=self.cfg.confirm_timeout_s,
                change_divisions=self.cfg.change_divisions,
                timezone=tz,
            )
            for s in self.cfg.scales
        }
        self.weighings = 0
        GalleryCommands(self.recognition, self.cfg.learning).register(ctx.registry)
        SharedLearning(self.recognition, self.cfg.learning, ctx.config.store.id).register(ctx.registry)
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
        self.pictures = await asyncio.to_thread(iconic_index, self.cfg.demo_images, dict(self.produce.skus))
        examples = await store.read(lambda db: stored.examples(db, version))
        await self.recognition.rebuild(examples)
        log.info("scale.gallery.ready", products=len(self.gallery), learned=len(examples), model=version)
        async with asyncio.TaskGroup() as group:
            group.create_task(upgrade.reembed(store, self.recognition), name="scale-reembed")
            group.create_task(self.products.follow(store), name="scale-catalog")
            for station in self.stations.values():
                group.create_task(station.run(), name=f"scale-station:{station.id}")

    def reload(self, section: ScaleSection) -> None:
        """Take a `config.set`'s new thresholds (`JobSpec.hot_keys`) without a restart; the next weighing uses them."""
        self.cfg = self.cfg.model_copy(update={key: getattr(section, key) for key in HOT_KEYS})
        self.recognition.cfg = self.cfg
        self.unrecognised_score = UNRECOGNISED_SCORE if self.cfg.unrecognised_score is None else self.cfg.unrecognised_score
        log.info("scale.reloaded", unsure_score=self.recognition.unsure_score, unrecognised_score=self.unrecognised_score)

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

    async def _recognise(self, image: np.ndarray, scale_id: str) -> Offer:
        """One frame: the model's nearest products, kept to the scale catalogue and the load's sale mode, or unrecognised.

        The top candidate's sale mode is the kind of load (loose produce or a packaged item) when the model
        is sure of it; candidates of the other mode are then left out (search still finds them). A top
        score below the unrecognised threshold shows no tiles at all.
        """
        found = await self.recognition.recognize(image, RECALL_K)
        if self.cfg.learning.enabled:
            self._crops[scale_id] = (found.embedding, self.recognition.keep_crop(image))
        sold = [(sku, score) for sku, score in found.candidates if self.products.sold(sku)]
        top1 = sold[0] if sold else None
        unsure = is_unsure([s for _, s in sold[:TOP_K]], self.recognition.unsure_score)
        if top1 is not None and not unsure:
            mode = self.products[top1[0]]["sale_mode"]
            sold = [c for c in sold if self.products[c[0]]["sale_mode"] == mode]
        unrecognised = top1 is None or is_unrecognised(found, self.unrecognised_score)
        return Offer(sold[:TOP_K], None if top1 is None else top1[0], unrecognised, unsure, found.model_version, found.embedding)

    def candidates(self, scale_id: str) -> dict[str, Any]:
        """What the touch screen shows now: the snapshot of docs/http-api.md (state, weight, devices, candidates and ≈ totals)."""
        return self.screen.snapshot(self._station(scale_id))

    def search(self, scale_id: str, text: str, category: str | None = None, limit: int = 24) -> dict[str, Any]:
        """Scale products matching `text` field by field (and/or in `category`), best first, as cards with ≈ totals."""
        station = self._station(scale_id)
        hits = self.products.search(text, category)
        grams = self.screen.offered_grams(station)
        return {"products": [{**self.screen.card(station, h.sku, grams), "match": h.field} for h in hits[:limit]], "total": len(hits)}

    def categories(self, scale_id: str) -> list[dict[str, Any]]:
        """The browsing categories holding scale products, with a count and a SKU with a picture to stand for each."""
        self._station(scale_id)
        pictures = self.pictures
        out = []
        for category, (name, name_en) in CATEGORIES.items():
            skus = [s for s in self.products.skus() if self.products.category(s) == category]
            if skus:
                picture = next((s for s in skus if s in pictures), None)
                out.append({"category": category, "name": name, "name_en": name_en, "products": len(skus), "picture": picture})
        return out

    def _sellable(self, station: Station, sku: str) -> Product:
        """The product as priced at this scale, or not_found / not_sold_at_scale."""
        if sku not in self.products:
            raise ScaleJobError("not_found", f"unknown product {sku!r}")
        if not self.products.sold(sku) or self.products.plu(sku, station.cfg.plu_map) is None:
            raise ScaleJobError("not_sold_at_scale", f"{sku} is not sold at the scale (no scale PLU, or not listed for the scales)")
        return self.products.product(sku, date.today(), station.cfg.plu_map)

    def _offer(self, station: Station, weighing: int | None) -> Weighing:
        """The weighing on offer (or the typed refusal), which must be the one the screen showed when it says which."""
        down = station.out_of_service()
        if down is not None:
            raise ScaleJobError(down, f"scale {station.id} is out of service ({down})")
        current = station.session.current
        if weighing is not None and (current is None or current.number != weighing):
            raise ScaleJobError("stale_choice", f"the tap was for weighing {weighing}, the scale is at {None if current is None else current.number}")
        try:
            return station.session.offered(station.clock())
        except SessionError as err:
            raise ScaleJobError(err.code, str(err)) from err

    def _price(self, station: Station, product: Product, grams: int, pieces: int | None) -> Quote:
        """The quote for the offered (gross) weight less the product's tare, or for `pieces`; a typed refusal otherwise."""
        try:
            return station.session.price(product, grams=grams, pieces=pieces, tared_by_scale=False)[0]
        except PriceRefused as err:
            raise ScaleJobError(err.code, str(err)) from err

    def quote(self, scale_id: str, sku: str, pieces: int | None) -> dict[str, Any]:
        """What a tap on `sku` would print now (the count dialog's and the question's figures)."""
        station = self._station(scale_id)
        product = self._sellable(station, sku)
        weighing = self._offer(station, None)
        return self._quoted(station, sku, self._price(station, product, weighing.grams, pieces), weighing.grams)

    def _quoted(self, station: Station, sku: str, quote: Quote, grams: int) -> dict[str, Any]:
        """A product card with its quote."""
        return {**self.screen.card(station, sku, grams), "grams": quote.net_grams, "pieces": quote.pieces, "amount": money(quote.amount)}

    def _suspicion(self, station: Station, weighing: Weighing, sku: str, chosen: Quote, pieces: int | None) -> str:
        """Item 6's verdict on this choice (see edge/scale/suspicion.py)."""
        top1 = weighing.top1
        top1_amount = None
        if top1 is not None and top1 != sku and self.products.sold(top1):
            product = self.products.product(top1, date.today(), station.cfg.plu_map)
            count = (pieces or 1) if product.basis == "piece" else None
            try:
                top1_amount = station.session.price(product, grams=weighing.grams, pieces=count, tared_by_scale=False)[0].amount
            except PriceRefused:
                top1_amount = None
        offered = any(c.sku == sku for c in weighing.candidates)
        return suspicion.judge(
            offered=offered, top1=top1, chosen=sku, chosen_amount=chosen.amount, top1_amount=top1_amount, margin=self.cfg.suspicion_margin,
        )

    async def confirm(
        self, scale_id: str, choice: str | int, pieces: int | None = None, *, weighing: int | None = None, confirmed: bool = False,
    ) -> dict[str, Any]:
        """The customer's tap: a SKU or a candidate rank (1-based); prints the label and returns the sale (or a typed refusal)."""
        station = self._station(scale_id)
        if isinstance(choice, str):
            self._sellable(station, choice)  # an unknown or shelf-only product is refused whatever is on the platter
        current = self._offer(station, weighing)
        if isinstance(choice, int):
            if not 1 <= choice <= len(current.candidates):
                raise ScaleJobError("stale_choice", f"no candidate at rank {choice}")
            sku = current.candidates[choice - 1].sku
        else:
            sku = choice
        product = self._sellable(station, sku)
        chosen = self._price(station, product, current.grams, pieces)
        verdict = self._suspicion(station, current, sku, chosen, pieces)
        asked = self._asked.get(station.id) == (current.number, sku)
        if verdict != suspicion.NONE and current.candidates and not (confirmed and asked):
            self._asked[station.id] = (current.number, sku)
            assert current.top1 is not None
            raise ScaleJobError(
                "needs_confirmation", f"chosen {sku}, recognised {current.top1} ({verdict})", suspicion=verdict,
                recognised=self.screen.card(station, current.top1, current.grams), chosen=self._quoted(station, sku, chosen, current.grams),
            )
        embedding = station.embedding
        try:
            sale = await station.confirm(product, sku, pieces, product.plu)
        except SessionError as err:
            raise ScaleJobError(err.code, str(err)) from err
        judged = learning.judge(self.cfg.learning, sale.candidates, sku, by_weight=product.basis != "piece", grams=sale.grams,
                                suspicion=verdict)
        learn = judged.learn and embedding is not None
        crop = await self._crop(station.id, embedding) if learn else None
        event = self._event(station, sale, self.products[sku], learn, judged.reason, verdict)
        kept = await self.ctx.store.write(lambda tx: self._record(tx, station.id, sale, event, embedding if learn else None, crop))
        if kept is not None:
            await self.recognition.rebuild(kept, sku)
        self.weighings += 1
        printed = {k: event[k] for k in ("sku", "name", "sale_mode", "grams", "pieces", "unit_price", "unit", "amount", "barcode")}
        self.screen.printed[station.id] = (sale.weighing, {**printed, "name_en": self.products[sku].get("name_en") or None})
        station.changed.set()
        return {**event, "name_en": self.products[sku].get("name_en") or None}

    async def _crop(self, scale_id: str, embedding: np.ndarray | None) -> bytes | None:
        """The kept crop of the frame that gave `embedding` (None if it is not that frame's or could not be made)."""
        latest = self._crops.get(scale_id)
        if latest is None or latest[0] is not embedding:
            return None
        try:
            return await asyncio.wrap_future(latest[1])
        except RecognitionError as err:
            log.warning("scale.gallery.no_crop", scale=scale_id, error=str(err))
            return None

    def cancel(self, scale_id: str, weighing: int | None = None) -> dict[str, Any]:
        """The customer's cancel: the weighing ends without a label; returns the new snapshot."""
        return self._button(scale_id, weighing, "cancel")

    def restart(self, scale_id: str, weighing: int | None = None) -> dict[str, Any]:
        """Start again (also the retry after the window passed): the item is recognised anew; returns the new snapshot."""
        return self._button(scale_id, weighing, "restart")

    def _button(self, scale_id: str, weighing: int | None, which: str) -> dict[str, Any]:
        """Cancel or restart the current weighing, refused with a code when there is none (or another one)."""
        station = self._station(scale_id)
        current = station.session.current
        if weighing is not None and (current is None or current.number != weighing):
            raise ScaleJobError("stale_choice", f"weighing {weighing} is not the current one")
        try:
            station.cancel() if which == "cancel" else station.restart()
        except SessionError as err:
            raise ScaleJobError(err.code, str(err)) from err
        return self.candidates(scale_id)

    def _event(self, station: Station, sale: Sale, row: dict[str, Any], learned: bool, reason: str, verdict: str) -> dict[str, Any]:
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
            "unit_price": unit_money(q.unit_price),
            "unit": q.basis,
            "amount": money(q.amount),
            "currency": "CNY",
            "barcode": sale.code,
            "barcode_layout": sale.layout,
            "candidates": [{"sku": c.sku, "score": round(c.score, 4)} for c in sale.candidates[:TOP_K]],
            "rank": sale.rank,
            "offered": sale.rank is not None,
            "top1": sale.top1,
            "suspicion": verdict,
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
        self, tx: Tx, scale_id: str, sale: Sale, event: dict[str, Any], embedding: np.ndarray | None, crop: bytes | None = None
    ) -> list[tuple[str, np.ndarray]] | None:
        """Sale row, learned example (with its crop) and the `weighing` event in one transaction; the product's stored examples if learned."""
        q = sale.quote
        event["sale_id"] = tx.db["scale_weighings"].insert(
            {
                "scale_id": scale_id, "weighing": sale.weighing, "sku": sale.sku, "plu": q.plu, "grams": q.net_grams,
                "pieces": q.pieces, "unit_price": unit_money(q.unit_price), "basis": q.basis, "amount": money(q.amount),
                "barcode": sale.code, "rank": sale.rank, "learned": int(embedding is not None), "at": utc_now(),
            }
        ).last_pk
        kept = None
        if embedding is not None:
            version = self.recognition.model_version
            added = stored.add(
                tx, sale.sku, version, [embedding], source="confirm",
                max_per_product=self.cfg.learning.max_per_product, dedupe_cosine=self.cfg.learning.dedupe_cosine, crops=[crop],
            )
            event["learned"] = bool(added)
            if not added:
                event["learning"] = "duplicate of a stored example"
            kept = stored.examples(tx.db, version, sale.sku)
        tx.emit("weighing", event)
        return kept


def reload(job: ScaleJob, section: ScaleSection) -> None:
    """`JobSpec.reload`: the running job takes the new section's hot keys."""
    job.reload(section)
