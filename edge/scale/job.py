"""The scale job: stations, produce recognition with a learning gallery, the customer interaction and HQ commands.

Customers act through the local touch screen (a later issue builds the page); for now the
interaction is `candidates()`, `search()` and `confirm()` on this object. Every completed
weighing is one `weighing` event, written with the sale row (and any learned example) in one
transaction. Recognition runs on one dedicated worker thread, which is also the only thread that
touches the in-memory gallery, so it needs no lock.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import structlog
from pydantic import Field, model_validator
from pypinyin import Style, lazy_pinyin

from edge.catalog import SKU_PATTERN
from edge.jobs import JobContext
from edge.scale import gallery_store, learning, produce_map
from edge.scale.config import ScaleSection
from edge.scale.errors import ScaleJobError
from edge.scale.pricing import Product
from edge.scale.recognizer import (
    DEFAULT_GALLERY,
    DEFAULT_MODEL,
    UNSURE_MARGIN,
    EmptyGallery,
    Gallery,
    ModelMismatch,
    Recognizer,
    RecognizerError,
    UnusableFrame,
    is_unsure,
    preprocess,
)
from edge.scale.session import Sale, SessionError, money
from edge.scale.station import Recognition, Station, build_devices
from edge.store import Tx
from edge.store.db import utc_now
from edge.sync.commands import Args, CommandError

log = structlog.get_logger("scale")

MAX_ENROLL_IMAGES = 16
TOP_K = 5


class EnrollArgs(Args):
    """`scale.enroll`: example images of one product (base64 JPEG/PNG, or files on the gateway)."""

    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    images: Annotated[list[Annotated[str, Field(max_length=4_000_000)]], Field(max_length=MAX_ENROLL_IMAGES)] = []
    paths: Annotated[list[str], Field(max_length=MAX_ENROLL_IMAGES)] = []

    @model_validator(mode="after")
    def _some(self) -> EnrollArgs:
        count = len(self.images) + len(self.paths)
        if count == 0:
            raise ValueError("give at least one of images (base64) or paths")
        if count > MAX_ENROLL_IMAGES:
            raise ValueError(f"at most {MAX_ENROLL_IMAGES} images per command")
        return self


class GalleryArgs(Args):
    """`scale.gallery`: optionally one product."""

    sku: Annotated[str, Field(pattern=SKU_PATTERN)] | None = None


def _pinyin_keys(name: str) -> str:
    """Full pinyin and initials of a Chinese name, so 'xiangjiao' and 'xj' both find 香蕉."""
    return "".join(lazy_pinyin(name)) + " " + "".join(lazy_pinyin(name, style=Style.FIRST_LETTER))


def _unit_price(row: dict[str, Any], today: date) -> Decimal:
    """The price in force: a promotion while it runs (promo_end inclusive), else the regular price."""
    if row.get("promo_price") and (not row.get("promo_end") or date.fromisoformat(row["promo_end"]) >= today):
        return Decimal(row["promo_price"])
    return Decimal(row["price"])


class ScaleJob:
    """Component running every configured scale; see the module docstring."""

    name = "scale"

    def __init__(self, ctx: JobContext) -> None:
        """Load the model and base gallery, build the stations and register the commands."""
        self.ctx = ctx
        self.cfg: ScaleSection = ctx.section
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scale-recognizer")
        self.problem: str | None = None
        self.recognizer: Recognizer | None = None
        self.model_version = ""
        self.produce = produce_map.ProduceMap({}, [])
        self._base: dict[str, np.ndarray] = {}
        # a broken model, gallery or produce file degrades the scales to search-only; the daemon still starts
        try:
            if self.cfg.produce_file:
                self.produce = produce_map.load(self.cfg.produce_file)
            self.recognizer = Recognizer(self.cfg.model or DEFAULT_MODEL)
            self.model_version = self.recognizer.model_version
            self._base = self._load_base_gallery()
        except (RecognizerError, produce_map.ProduceFileError, OSError, ValueError, KeyError) as err:
            self.problem = str(err)
            log.error("scale.recognition.unavailable", error=self.problem)
        self.gallery = Gallery(model_version=self.model_version, max_per_product=100_000, dedupe_cosine=1.0)
        try:
            tz: Any = ZoneInfo(ctx.config.store.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            tz = UTC
        self.stations: dict[str, Station] = {
            s.id: Station(
                s,
                build_devices(s, ctx.data_dir),
                self._recognise,
                confirm_timeout_s=self.cfg.confirm_timeout_s,
                change_divisions=self.cfg.change_divisions,
                timezone=tz,
            )
            for s in self.cfg.scales
        }
        self.products: dict[str, dict[str, Any]] = {}
        self._search_keys: dict[str, str] = {}
        self._revision = 0
        self.weighings = 0
        ctx.registry.register(
            "scale.enroll", EnrollArgs, self._enroll, "Enrol example images of a product into the scales' gallery", prepare=self._embed_enrolment
        )
        ctx.registry.register("scale.gallery", GalleryArgs, self._gallery_counts, "Gallery examples per product")
        ctx.scheduler.every("scale.telemetry", 30, self._telemetry)

    def _load_base_gallery(self) -> dict[str, np.ndarray]:
        """The shipped gallery's examples per SKU (classes without a mapped SKU are left out)."""
        path = self.cfg.gallery or (DEFAULT_GALLERY if (self.cfg.model or DEFAULT_MODEL) == DEFAULT_MODEL else None)
        if path is None or not self.produce.skus:
            return {}
        base = Gallery.load(path)
        if base.model_version and base.model_version != self.model_version:
            raise ModelMismatch(f"{path} was made by {base.model_version}, the model is {self.model_version}")
        return {self.produce.skus[c]: base.examples(c) for c in base.products() if c in self.produce.skus}

    # ----- lifetime -----------------------------------------------------------------------
    async def run(self) -> None:
        """Seed/refresh the catalogue view, rebuild the gallery from SQLite, run every station."""
        if self.cfg.seed_products and self.produce.products:
            seeded = await self.ctx.store.write(lambda tx: produce_map.seed(tx, self.produce.products))
            if seeded:
                log.info("scale.products.seeded", count=seeded)
        await self._refresh_products()
        stored = await self.ctx.store.read(lambda db: gallery_store.examples(db, self.model_version))
        await asyncio.get_running_loop().run_in_executor(self._executor, self._rebuild_gallery, stored)
        log.info("scale.gallery.ready", products=len(self.gallery), learned=len(stored), model=self.model_version)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch_catalog(), name="scale-catalog")
            for station in self.stations.values():
                group.create_task(station.run(), name=f"scale-station:{station.id}")

    async def stop(self) -> None:
        """Close the devices; recognition in flight is abandoned (no label without a confirmation)."""
        await asyncio.gather(*(s.close() for s in self.stations.values()), return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def healthy(self) -> bool:
        """Every scale answers, its camera streams and its printer works."""
        return all(s.healthy for s in self.stations.values()) and self.problem is None

    def health(self) -> dict[str, Any]:
        """Per-scale state, gallery size and model version."""
        return {
            "model_version": self.model_version,
            "gallery_products": len(self.gallery),
            "weighings": self.weighings,
            "problem": self.problem,
            "scales": {sid: s.health() for sid, s in self.stations.items()},
        }

    async def _telemetry(self) -> None:
        """Latest-value health figures for HQ."""
        self.ctx.telemetry("scale", self.health())

    # ----- catalogue view -----------------------------------------------------------------
    async def _watch_catalog(self) -> None:
        """Keep the product view current: re-read products whose revision grew."""
        changed = self.ctx.store.changed("catalog")
        while True:
            await changed.wait()
            changed.clear()
            await self._refresh_products()

    async def _refresh_products(self) -> None:
        """Read products changed since the last look; search keys are computed off the loop."""

        def read(db: Any) -> list[tuple[dict[str, Any], str]]:
            rows = [dict(r) for r in db.query("SELECT * FROM products WHERE revision > ? ORDER BY revision", [self._revision])]
            return [(r, " ".join([r["sku"].casefold(), r["name"], (r.get("name_en") or "").casefold(), r.get("plu") or "", _pinyin_keys(r["name"])])) for r in rows]

        for row, keys in await self.ctx.store.read(read):
            self.products[row["sku"]] = row
            self._search_keys[row["sku"]] = keys
            self._revision = max(self._revision, row["revision"])

    # ----- recognition (worker thread) ----------------------------------------------------
    def _rebuild_gallery(self, stored: list[tuple[str, np.ndarray]], only: str | None = None) -> None:
        """Base examples plus the stored ones, for every product or just `only` (runs on the worker thread)."""
        skus = [only] if only is not None else list(dict.fromkeys([*self._base, *(s for s, _ in stored)]))
        for sku in skus:
            self.gallery.remove(sku)
            for embedding in self._base.get(sku, ()):
                self.gallery.add(sku, embedding)
            for s, embedding in stored:
                if s == sku:
                    self.gallery.add(sku, embedding)

    def _recognise_sync(self, image: np.ndarray) -> Recognition:
        """One frame -> top-k SKUs with cosine scores, the unsure flag and the embedding (worker thread)."""
        if self.recognizer is None:
            raise EmptyGallery(f"recognition unavailable: {self.problem}")
        embedding = self.recognizer.run(preprocess(image))
        ids, protos = self.gallery.prototypes()
        sims = protos @ embedding
        top = np.argsort(-sims)[:TOP_K]
        candidates = [(ids[i], float(sims[i])) for i in top]
        scores = [s for _, s in candidates]
        if self.cfg.unsure_score is None:
            unsure = is_unsure(scores)
        else:
            second = scores[1] if len(scores) > 1 else -1.0
            unsure = scores[0] < self.cfg.unsure_score or scores[0] - second < UNSURE_MARGIN
        return candidates, unsure, self.model_version, embedding

    async def _recognise(self, image: np.ndarray) -> Recognition:
        """Recognition off the event loop; unusable frames and an empty gallery become ValueError for the station."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._recognise_sync, image)
        except (UnusableFrame, EmptyGallery) as err:
            raise ValueError(str(err)) from err

    # ----- customer interaction -----------------------------------------------------------
    def _station(self, scale_id: str) -> Station:
        """The station called `scale_id`, or a typed error."""
        station = self.stations.get(scale_id)
        if station is None:
            raise ScaleJobError("not_found", f"no scale {scale_id!r}")
        return station

    def _describe(self, sku: str) -> dict[str, Any]:
        """What the screen shows for a product: name, price in force and unit."""
        row = self.products.get(sku)
        if row is None:
            return {"sku": sku, "name": None, "price": None, "unit": None}
        return {"sku": sku, "name": row["name"], "price": money(_unit_price(row, date.today())), "unit": row["unit"]}

    def candidates(self, scale_id: str) -> dict[str, Any]:
        """What the touch screen shows now: phase, weight, and the offered products (rank, score, name, price)."""
        station = self._station(scale_id)
        session = station.session
        weighing = session.current
        offered = [] if weighing is None else [
            {"rank": i + 1, "score": round(c.score, 4), **self._describe(c.sku)} for i, c in enumerate(weighing.candidates)
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
        needle = text.strip().casefold().replace(" ", "")
        if not needle:
            return []
        hits = [sku for sku, keys in self._search_keys.items() if needle in keys.replace(" ", "") or needle in keys]
        return [self._describe(sku) for sku in hits[:limit]]

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
        product = Product(plu, row["name"], _unit_price(row, date.today()), row["unit"], int(row.get("tare_g") or 0))
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
        stored = await self.ctx.store.write(lambda tx: self._record(tx, station.id, sale, event, embedding if learn else None))
        if stored is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._rebuild_gallery, stored, sku)
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
            "model_version": sale.model_version or self.model_version,
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
        stored = None
        if embedding is not None:
            added = gallery_store.add(
                tx, sale.sku, self.model_version, [embedding], source="confirm",
                max_per_product=self.cfg.learning.max_per_product, dedupe_cosine=self.cfg.learning.dedupe_cosine,
            )
            event["learned"] = bool(added)
            if not added:
                event["learning"] = "duplicate of a stored example"
            stored = gallery_store.examples(tx.db, self.model_version, sale.sku)
        tx.emit("weighing", event)
        return stored

    # ----- HQ commands (writer thread) ----------------------------------------------------
    async def _embed_enrolment(self, args: EnrollArgs) -> list[np.ndarray]:
        """Prepare `scale.enroll` on the worker thread: decode and embed every image before the transaction."""
        if self.recognizer is None:
            raise CommandError("busy", f"recognition unavailable on this gateway: {self.problem}")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._embed_sources, args)

    def _embed_sources(self, args: EnrollArgs) -> list[np.ndarray]:
        """Blocking: base64 or file → model embedding; a bad image names its index."""
        assert self.recognizer is not None
        embeddings = []
        sources = [(f"images[{i}]", text) for i, text in enumerate(args.images)] + [(f"paths[{i}]", p) for i, p in enumerate(args.paths)]
        for where, value in sources:
            if where.startswith("images"):
                try:
                    data = base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError) as err:
                    raise CommandError("invalid_argument", f"{where}: not base64: {err}") from err
            else:
                try:
                    data = Path(value).read_bytes()
                except OSError as err:
                    raise CommandError("invalid_argument", f"{where}: cannot read {value!r}: {err.strerror or err}") from err
            try:
                embeddings.append(self.recognizer.run(preprocess(data)))
            except UnusableFrame as err:
                raise CommandError("invalid_argument", f"{where}: {err}") from err
            except RecognizerError as err:
                raise CommandError("internal", f"{where}: {err}") from err
        return embeddings

    def _enroll(self, tx: Tx, args: EnrollArgs, embeddings: list[np.ndarray]) -> dict[str, Any]:
        """Store the prepared embeddings as the product's examples (no retraining)."""
        if tx.conn.execute("SELECT 1 FROM products WHERE sku = ?", (args.sku,)).fetchone() is None:
            raise CommandError("not_found", f"sku: unknown product {args.sku!r}")
        added = gallery_store.add(
            tx, args.sku, self.model_version, embeddings, source="enroll",
            max_per_product=self.cfg.learning.max_per_product, dedupe_cosine=self.cfg.learning.dedupe_cosine,
        )
        stored = gallery_store.examples(tx.db, self.model_version, args.sku)
        tx.after_commit(lambda: self._schedule_rebuild(stored, args.sku))
        return {
            "sku": args.sku,
            "received": len(embeddings),
            "added": added,
            "duplicates": len(embeddings) - added,
            "examples": len(stored),
            "model_version": self.model_version,
        }

    def _schedule_rebuild(self, stored: list[tuple[str, np.ndarray]], sku: str) -> None:
        """After commit (on the loop): refresh that product in the gallery on the worker thread."""
        self._executor.submit(self._rebuild_gallery, stored, sku)

    def _gallery_counts(self, tx: Tx, args: GalleryArgs) -> dict[str, Any]:
        """Examples per product: shipped (base) and learned/enrolled (stored)."""
        stored = gallery_store.counts(tx.db, self.model_version)
        skus = [args.sku] if args.sku else sorted({*self._base, *stored})
        if args.sku and args.sku not in self._base and args.sku not in stored:
            if tx.conn.execute("SELECT 1 FROM products WHERE sku = ?", (args.sku,)).fetchone() is None:
                raise CommandError("not_found", f"sku: unknown product {args.sku!r}")
        names = {r[0]: r[1] for r in tx.conn.execute("SELECT sku, name FROM products")}
        return {
            "model_version": self.model_version,
            "products": [
                {"sku": s, "name": names.get(s), "base": len(self._base.get(s, ())), "stored": stored.get(s, 0)} for s in skus
            ],
        }
