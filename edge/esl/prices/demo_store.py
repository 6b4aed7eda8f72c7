"""A generated demo catalogue (Chinese product names) and its binding to the simulated labels, idempotent at start."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from edge.catalog import UpsertArgs
from edge.esl.prices.queue import queue_push
from edge.store import Tx
from edge.sync.commands import CommandRegistry

# (name, English name, unit, price range in yuan, spec, origin)
_BASE: tuple[tuple[str, str, str, tuple[int, int], str, str], ...] = (
    ("红富士苹果", "Fuji Apple", "500g", (4, 9), "约250g/个", "山东"),
    ("砂糖橘", "Sugar Mandarin", "500g", (3, 8), "", "广西"),
    ("香蕉", "Banana", "500g", (2, 5), "", "海南"),
    ("库尔勒香梨", "Korla Pear", "500g", (5, 10), "", "新疆"),
    ("阳光玫瑰葡萄", "Shine Muscat Grape", "500g", (12, 30), "", "云南"),
    ("西红柿", "Tomato", "500g", (2, 6), "", "山东"),
    ("黄瓜", "Cucumber", "500g", (2, 5), "", "河北"),
    ("大白菜", "Chinese Cabbage", "500g", (1, 3), "", "河北"),
    ("土豆", "Potato", "500g", (1, 3), "", "内蒙古"),
    ("西兰花", "Broccoli", "500g", (4, 9), "", "浙江"),
    ("猪五花肉", "Pork Belly", "500g", (14, 25), "", "江苏"),
    ("精品牛腱", "Beef Shank", "500g", (38, 55), "", "内蒙古"),
    ("鲜鸡胸肉", "Chicken Breast", "500g", (9, 15), "", "山东"),
    ("鲈鱼", "Sea Bass", "500g", (18, 32), "", "广东"),
    ("基围虾", "Greasyback Shrimp", "500g", (35, 60), "", "广东"),
    ("伊利纯牛奶", "Yili Pure Milk", "piece", (3, 6), "250ml", ""),
    ("蒙牛酸奶", "Mengniu Yogurt", "piece", (5, 12), "4×100g", ""),
    ("光明鲜牛奶", "Bright Fresh Milk", "piece", (8, 16), "950ml", ""),
    ("鲜鸡蛋", "Fresh Eggs", "piece", (15, 30), "30枚", "湖北"),
    ("五常大米", "Wuchang Rice", "piece", (45, 90), "5kg", "黑龙江"),
    ("金龙鱼花生油", "Peanut Oil", "piece", (80, 160), "5L", ""),
    ("海天生抽", "Light Soy Sauce", "piece", (8, 15), "500ml", "广东"),
    ("农夫山泉", "Nongfu Spring", "piece", (2, 3), "550ml", "浙江"),
    ("可口可乐", "Coca-Cola", "piece", (3, 5), "330ml", ""),
    ("康师傅红烧牛肉面", "Braised Beef Noodles", "piece", (4, 6), "5连包", ""),
    ("奥利奥饼干", "Oreo", "piece", (8, 14), "388g", ""),
    ("德芙巧克力", "Dove Chocolate", "piece", (18, 35), "252g", ""),
    ("三全水饺", "Sanquan Dumplings", "piece", (15, 30), "1kg", "河南"),
    ("维达抽纸", "Vinda Tissue", "piece", (12, 25), "3层×6包", ""),
    ("蓝月亮洗衣液", "Laundry Detergent", "piece", (30, 60), "3kg", ""),
)
_VARIANTS = ("", "有机", "精选", "特级", "家庭装", "进口", "当季", "礼盒装", "小包装", "散装")


def catalogue(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` products with SKUs DEMO00001.., the same for the same seed."""
    rng = random.Random(seed)
    items = []
    for n in range(count):
        name, name_en, unit, (low, high), spec, origin = _BASE[n % len(_BASE)]
        variant = _VARIANTS[n // len(_BASE) % len(_VARIANTS)]
        batch = n // (len(_BASE) * len(_VARIANTS))  # past 300 products a name repeats: a number tells them apart (distinct_names)
        price = Decimal(rng.randrange(low * 100, high * 100 + 1)) / 100
        item: dict[str, Any] = {
            "sku": f"DEMO{n + 1:05d}", "name": f"{variant}{name}{f' {batch + 1}号' if batch else ''}", "name_en": name_en, "price": f"{price:.2f}",
            "unit": unit, "sale_mode": "piece" if unit == "piece" else "weight", "spec": spec, "origin": origin,
        }
        if unit != "piece":
            item["plu"] = f"{n + 1:05d}"
        if rng.random() < 0.1:
            item["promo_price"] = f"{price * Decimal('0.8'):.2f}"
        items.append(item)
    return items


def load(tx: Tx, registry: CommandRegistry, count: int, seed: int) -> dict[str, int]:
    """Add the products that are missing and bind every unbound label in id order; a second run changes nothing."""
    items = catalogue(count, seed)
    known = {r[0] for r in tx.conn.execute("SELECT sku FROM products WHERE sku LIKE 'DEMO%'")}
    missing = [i for i in items if i["sku"] not in known]
    if missing:
        upsert = registry.get("product.upsert")
        assert upsert is not None, "the core registers product.upsert"
        upsert.handler(tx, UpsertArgs.model_validate({"items": missing}))
    unbound = [r[0] for r in tx.conn.execute("SELECT id FROM esl_labels WHERE sku IS NULL ORDER BY id")]
    revisions = dict(tx.conn.execute("SELECT sku, revision FROM products WHERE sku LIKE 'DEMO%'").fetchall())
    for n, label in enumerate(unbound):
        sku = items[n % len(items)]["sku"]
        tx.conn.execute("UPDATE esl_labels SET sku = ? WHERE id = ?", (sku, label))
        queue_push(tx, label, sku, revisions[sku])
    return {"products_added": len(missing), "labels_bound": len(unbound)}
