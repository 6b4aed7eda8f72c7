"""The in-memory gallery: confirmed example embeddings per product, and the prototype each query is compared with."""

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
    """Confirmed example embeddings per product (keyed by product id / sku), bounded and de-duplicated.

    A product's score for a query is the cosine to the normalised mean of its examples (its prototype).
    """

    model_version: str = ""
    max_per_product: int = 32
    dedupe_cosine: float = 0.98
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    _items: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)
    _cache: tuple[list[str], np.ndarray] | None = field(default=None, repr=False)

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
        """The stored examples of one product (n x dim)."""
        return np.stack(self._items[product_id])

    def add(self, product_id: str, embedding: np.ndarray) -> bool:
        """Add one confirmed example; False if it duplicates a stored one. Oldest example drops past the bound."""
        e = np.asarray(embedding, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(e))
        if not np.isfinite(norm) or norm == 0.0:
            raise ValueError("embedding must be finite and non-zero")
        e = e / norm
        stored = self._items.setdefault(product_id, [])
        if stored and stored[0].shape != e.shape:
            raise ValueError(f"embedding size {e.shape[0]} does not match the gallery's {stored[0].shape[0]}")
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

    def replace(self, product_id: str, *example_lists: Iterable[np.ndarray]) -> None:
        """Forget a product's examples and add these (base first, then learned), keeping its metadata."""
        meta = self.meta.get(product_id)
        self.remove(product_id)
        if meta is not None:
            self.meta[product_id] = meta
        for examples in example_lists:
            for embedding in examples:
                self.add(product_id, embedding)

    def remove(self, product_id: str) -> bool:
        """Forget a product; False if it was not there."""
        self._cache = None
        self.meta.pop(product_id, None)
        return self._items.pop(product_id, None) is not None

    def prototypes(self) -> tuple[list[str], np.ndarray]:
        """(product ids, normalised mean embedding per product), cached until the gallery changes."""
        if not self._items:
            raise EmptyGallery("the gallery has no products")
        if self._cache is None:
            ids = list(self._items)
            protos = np.stack([np.mean(self._items[p], axis=0) for p in ids])
            protos /= np.linalg.norm(protos, axis=1, keepdims=True)
            self._cache = (ids, protos)
        return self._cache

    def to_arrays(self) -> tuple[list[str], np.ndarray]:
        """Flatten to (product id per row, embeddings n x dim float32) for persistence (e.g. SQLite blobs)."""
        ids = [p for p, items in self._items.items() for _ in items]
        embs = np.stack([e for items in self._items.values() for e in items]) if ids else np.zeros((0, 0), np.float32)
        return ids, embs

    @classmethod
    def from_arrays(cls, product_ids: list[str], embeddings: np.ndarray, **kwargs: Any) -> Gallery:
        """Rebuild from to_arrays() output (rows in insertion order)."""
        gallery = cls(**kwargs)
        for pid, emb in zip(product_ids, np.asarray(embeddings)):
            gallery.add(str(pid), emb)
        return gallery

    def save(self, path: Path, meta: dict[str, dict[str, Any]] | None = None) -> None:
        """Write an .npz: rows of (product id, float16 embedding), the model version and per-product metadata."""
        ids, embs = self.to_arrays()
        np.savez_compressed(
            path,
            product_ids=np.array(ids),
            embeddings=embs.astype(np.float16),
            model_version=np.array(self.model_version),
            meta_json=np.array(json.dumps(meta if meta is not None else self.meta)),
            max_per_product=np.array(self.max_per_product),
        )

    @classmethod
    def load(cls, path: Path) -> Gallery:
        """Read a gallery written by save()."""
        with np.load(path, allow_pickle=False) as z:
            gallery = cls.from_arrays(
                [str(p) for p in z["product_ids"]],
                z["embeddings"].astype(np.float32),
                model_version=str(z["model_version"]),
                max_per_product=int(z["max_per_product"]),
                meta=json.loads(str(z["meta_json"])),
            )
        return gallery
