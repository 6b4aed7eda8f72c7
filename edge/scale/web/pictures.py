"""Product pictures for the scale screen's tiles: the dataset's iconic images in the demo, found by model class."""

from __future__ import annotations

from pathlib import Path

ICONIC = "iconic-images-and-descriptions"


def iconic_index(dataset: Path, skus_by_class: dict[str, str]) -> dict[str, Path]:
    """SKU -> `<class>_Iconic.jpg` under the dataset's iconic folder (blocking: walks the folder; run off the loop)."""
    root = dataset / ICONIC
    if not root.is_dir():
        return {}
    found = {p.name.removesuffix("_Iconic.jpg"): p for p in root.rglob("*_Iconic.jpg")}
    return {sku: found[cls] for cls, sku in skus_by_class.items() if cls in found}
