"""The in-memory gallery: example embeddings per product (base and learned) and the score each query gets per product."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.scale.recognition.errors import EmptyGallery


@dataclass
class Gallery:
    """Example embeddings per product (keyed by product id / sku), bounded and de-duplicated, base and learned apart.

    Base examples are the shipped gallery's; learned ones are what the store confirmed or enrolled. A product's score
    for a query is the larger of the cosine to its prototype (the normalised mean of its base examples, or of its
    learned ones when it has no base) and the cosine to its nearest example, base or learned: what a store teaches
    counts at once instead of barely moving a mean of many base examples, and a product whose photos look several
    ways is found by the way it looks now (both chosen on validation, see MODEL_CARD.md).
    """

    model_version: str = ""
    max_per_product: int = 32
    dedupe_cosine: float = 0.98
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    _items: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)
    _learned: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)
    _cache: tuple[list[str], np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        """Number of products."""
        return len(self._items)

    def __contains__(self, product_id: object) -> bool:
        """Whether a product has any example."""
        return product_id in self._items

    def products(self) -> list[str]:
        """Product ids in insertion order."""
        return list(self._items)

    def examples(self, product_id: str) -> np.ndarray:
        """The examples of one product (n x dim): base first, then learned."""
        return np.stack([*self._items[product_id], *self._learned.get(product_id, ())])

    def learned(self, product_id: str) -> int:
        """How many of a product's examples are learned (0 for a product with base examples only)."""
        return len(self._learned.get(product_id, ()))

    def add(self, product_id: str, embedding: np.ndarray, *, learned: bool = False) -> bool:
        """Add one base (or `learned`) example; False if it duplicates one of that kind. Oldest drops past the bound."""
        e = np.asarray(embedding, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(e))
        if not np.isfinite(norm) or norm == 0.0:
            raise ValueError("embedding must be finite and non-zero")
        e = e / norm
        known = next((v[0] for items in (self._items, self._learned) for v in items.values() if v), None)
        if known is not None and known.shape != e.shape:
            raise ValueError(f"embedding size {e.shape[0]} does not match the gallery's {known.shape[0]}")
        self._items.setdefault(product_id, [])
        stored = self._learned.setdefault(product_id, []) if learned else self._items[product_id]
        if stored and float(np.max(np.stack(stored) @ e)) > self.dedupe_cosine:
            return False
        stored.append(e)
        del stored[: max(0, len(stored) - self.max_per_product)]
        self._cache = None
        return True

    @classmethod
    def live(cls, model_version: str) -> Gallery:
        """The running gallery: every base and stored example kept (the bounds apply where examples are stored)."""
        return cls(model_version=model_version, max_per_product=100_000, dedupe_cosine=1.0)

    def replace(self, product_id: str, base: Iterable[np.ndarray], learned: Iterable[np.ndarray] = ()) -> None:
        """Forget a product's examples and add these base and learned ones, keeping its metadata."""
        meta = self.meta.get(product_id)
        self.remove(product_id)
        if meta is not None:
            self.meta[product_id] = meta
        for embedding in base:
            self.add(product_id, embedding)
        for embedding in learned:
            self.add(product_id, embedding, learned=True)

    def remove(self, product_id: str) -> bool:
        """Forget a product; False if it was not there."""
        self._cache = None
        self.meta.pop(product_id, None)
        self._learned.pop(product_id, None)
        return self._items.pop(product_id, None) is not None

    def _index(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(ids, prototypes, every example stacked product by product, where each product's rows start), cached until the gallery changes."""
        if not self._items:
            raise EmptyGallery("the gallery has no products")
        if self._cache is None:
            ids = list(self._items)
            protos = np.stack([np.mean(self._items[p] or self._learned[p], axis=0) for p in ids])
            protos /= np.linalg.norm(protos, axis=1, keepdims=True)
            per_product = [(*self._items[p], *self._learned.get(p, ())) for p in ids]  # each has one at least
            starts = np.cumsum([0, *(len(rows) for rows in per_product[:-1])], dtype=np.intp)
            examples = np.stack([e for rows in per_product for e in rows])
            self._cache = (ids, protos, examples, starts)
        return self._cache

    def prototypes(self) -> tuple[list[str], np.ndarray]:
        """(product ids, normalised mean embedding per product: of its base examples, else of its learned ones)."""
        ids, protos, _, _ = self._index()
        return ids, protos

    def scores(self, embedding: np.ndarray, members: int = 1) -> tuple[list[str], np.ndarray, float]:
        """(product ids, each product's score for this L2-normalised query: the class rule above, how known it looks).

        "How known" says whether the item looks like anything the store sells at all. It is judged on
        prototypes (means of many photos) alone: a learned example of some product can lift an unknown
        item's class score, a prototype much less. For an ensemble model (`members` equal slices of the
        embedding, one per member, ProduceModel.members) it is the lowest over the members of each
        member's best prototype cosine: an unknown item rarely looks known to every member at once
        (chosen on val, MODEL_CARD.md "Unknown items"). One member: the best prototype cosine.
        """
        ids, protos, examples, starts = self._index()
        sims = protos @ embedding
        known = float(sims.max()) if members == 1 else self._member_known(protos, embedding, members)
        np.maximum(sims, np.maximum.reduceat(examples @ embedding, starts), out=sims)
        return ids, sims, known

    @staticmethod
    def _member_known(protos: np.ndarray, embedding: np.ndarray, members: int) -> float:
        """min over members of the best cosine between the member's slice of the query and of each prototype."""
        dim = protos.shape[1]
        if dim % members:
            raise ValueError(f"a {dim}-d embedding does not split into {members} members")
        lows = []
        for part in np.split(np.arange(dim), members):
            p, q = protos[:, part], embedding[part]
            cos = (p @ q) / (np.linalg.norm(p, axis=1) * max(float(np.linalg.norm(q)), 1e-12))
            lows.append(float(cos.max()))
        return min(lows)

    def to_arrays(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Flatten to (product id per row, embeddings n x dim float32, learned flag per row) for persistence."""
        rows = [(p, e, kind) for p in self._items for kind, items in ((False, self._items), (True, self._learned))
                for e in items.get(p, ())]
        ids = [p for p, _, _ in rows]
        embs = np.stack([e for _, e, _ in rows]) if rows else np.zeros((0, 0), np.float32)
        return ids, embs, np.array([kind for _, _, kind in rows], dtype=bool)

    @classmethod
    def from_arrays(
        cls, product_ids: list[str], embeddings: np.ndarray, learned: np.ndarray | None = None, **kwargs: Any
    ) -> Gallery:
        """Rebuild from to_arrays() output (rows in insertion order; no flags: every row a base example)."""
        gallery = cls(**kwargs)
        flags = np.zeros(len(product_ids), bool) if learned is None else np.asarray(learned, bool)
        for pid, emb, flag in zip(product_ids, np.asarray(embeddings), flags):
            gallery.add(str(pid), emb, learned=bool(flag))
        return gallery

    def save(self, path: Path, meta: dict[str, dict[str, Any]] | None = None) -> None:
        """Write an .npz: rows of (product id, float16 embedding, learned flag), the model version and metadata."""
        ids, embs, learned = self.to_arrays()
        np.savez_compressed(
            path,
            product_ids=np.array(ids),
            embeddings=embs.astype(np.float16),
            learned=learned,
            model_version=np.array(self.model_version),
            meta_json=np.array(json.dumps(meta if meta is not None else self.meta)),
            max_per_product=np.array(self.max_per_product),
        )

    @classmethod
    def load(cls, path: Path) -> Gallery:
        """Read a gallery written by save() (files from before the learned flag load as base examples only)."""
        with np.load(path, allow_pickle=False) as z:
            gallery = cls.from_arrays(
                [str(p) for p in z["product_ids"]],
                z["embeddings"].astype(np.float32),
                z["learned"] if "learned" in z.files else None,
                model_version=str(z["model_version"]),
                max_per_product=int(z["max_per_product"]),
                meta=json.loads(str(z["meta_json"])),
            )
        return gallery
