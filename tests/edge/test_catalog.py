"""The catalogue commands: validation of money and units, immediate and scheduled price changes that fire once."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import sqlite3

from tests.conftest import wait_online
from tests.edge.sync.test_delivery import daemon_dir

APPLE = {"sku": "6901234567892", "name": "红富士苹果", "price": "12.80", "unit": "kg", "sale_mode": "weight", "plu": "10001"}
MILK = {"sku": "6907992500133", "name": "伊利纯牛奶 250ml", "price": "3.50"}


def products(daemon) -> dict[str, tuple]:  # noqa: ANN001
    conn = sqlite3.connect(daemon_dir(daemon) / "store-edge.db")
    return {r[0]: r[1:] for r in conn.execute("SELECT sku, price, promo_price, revision FROM products")}


def test_upsert_and_validation(broker, daemon_factory, hq_factory):
    daemon = daemon_factory(broker.url).start()
    hq = hq_factory(broker.port)
    wait_online(hq)
    assert hq.request("product.upsert", {"items": [APPLE, MILK]})["result"] == {"accepted": 2}

    bad = [
        ({**MILK, "price": 3.5}, "items[0].price", "decimal string"),
        ({**MILK, "price": "-1"}, "items[0].price", "between 0 and 99999.99"),
        ({**MILK, "price": "3.505"}, "items[0].price", "two decimals"),
        ({**MILK, "price": "abc"}, "items[0].price", ""),
        ({**APPLE, "unit": "piece"}, "items[0]", "sale_mode"),
        ({**MILK, "colour": "red"}, "items[0].colour", "unknown field"),
    ]
    for item, field, words in bad:
        reply = hq.request("product.upsert", {"items": [item]})
        assert reply["error"]["code"] == "invalid_argument", item
        assert reply["error"]["message"].startswith(field) and words in reply["error"]["message"], reply
    assert products(daemon)["6907992500133"][0] == "3.50"  # none of the bad ones changed anything
    daemon.terminate()


def test_price_update_now_unknown_sku_and_scheduled_fires_once_across_restart(broker, daemon_factory, hq_factory):
    daemon = daemon_factory(broker.url).start()
    hq = hq_factory(broker.port)
    wait_online(hq)
    hq.request("product.upsert", {"items": [APPLE, MILK]})
    rev_before = products(daemon)["6901234567892"][2]

    now = hq.request("price.update", {"items": [{"sku": APPLE["sku"], "price": "9.90", "promo_price": "8.80"}]})
    assert now["result"]["applied"] == 1
    price, promo, rev = products(daemon)["6901234567892"]
    assert (price, promo) == ("9.90", "8.80") and rev > rev_before

    unknown = hq.request("price.update", {"items": [{"sku": MILK["sku"], "price": "1.00"}, {"sku": "nope", "price": "1.00"}]})
    assert unknown["error"]["code"] == "not_found" and unknown["error"]["message"].startswith("items[1].sku")
    assert products(daemon)["6907992500133"][0] == "3.50"  # the batch is all or nothing

    naive = hq.request("price.update", {"items": [{"sku": MILK["sku"], "price": "1.00", "effective_at": "2026-12-01T20:00:00"}]})
    assert naive["error"]["code"] == "invalid_argument" and "time zone" in naive["error"]["message"]

    when = (datetime.now(UTC) + timedelta(seconds=4)).isoformat().replace("+00:00", "Z")
    later = hq.request("price.update", {"items": [{"sku": MILK["sku"], "price": "2.99", "effective_at": when}]})
    assert later["result"]["scheduled"][0]["sku"] == MILK["sku"]
    daemon.kill()  # dies before the change is due
    daemon.start()
    wait_online(hq, count=2)
    applied = hq.wait(lambda _: hq.events("price.applied"), timeout=20)
    assert applied[0]["data"]["price"] == "2.99"
    assert products(daemon)["6907992500133"][0] == "2.99"
    daemon.terminate()
    daemon.start()  # and after another restart it does not fire again
    wait_online(hq, count=3)
    time.sleep(1.5)
    hq.request("ping", {})
    assert len({e["id"] for e in hq.events("price.applied")}) == 1
    daemon.terminate()


LOOSE_MONEY = ["-0", "1e3", "1_0.5", "١٢.٥", "+5", " 12.80 ", "012.80", "12.", 12, 12.8, True]


def test_money_counts_and_times_are_strict(broker, daemon_factory, hq_factory):
    daemon = daemon_factory(broker.url).start()
    hq = hq_factory(broker.port)
    wait_online(hq)
    assert hq.request("product.upsert", {"items": [APPLE, MILK]})["ok"]
    for price in LOOSE_MONEY:
        for name, item in (("product.upsert", {**MILK, "price": price}), ("price.update", {"sku": MILK["sku"], "price": price})):
            reply = hq.request(name, {"items": [item]})
            assert reply["error"]["code"] == "invalid_argument" and reply["error"]["message"].startswith("items[0].price: "), (name, price)
    for field, value in (("tare_g", "5"), ("tare_g", 5.0), ("tare_g", True), ("promo_end", 20261125), ("name", "牛奶\n")):
        reply = hq.request("product.upsert", {"items": [{**MILK, "promo_price": "3.00", field: value}]})
        assert reply["error"]["message"].startswith(f"items[0].{field}: "), (field, value, reply)
    unix = hq.request("price.update", {"items": [{"sku": MILK["sku"], "price": "1.00", "effective_at": 1764072000}]})
    assert unix["error"]["message"].startswith("items[0].effective_at: must be an RFC 3339 string")
    assert products(daemon)["6907992500133"][:2] == ("3.50", None)  # nothing loose was stored (no "-0.00" on a shelf)

    # the contract's own example is answered as before
    example = hq.request("price.update", {"items": [{"sku": "6901234567892", "price": "12.80"}]}, request_id="9f1c2e")
    assert example == {"id": "9f1c2e", "ok": True, "result": {"accepted": 1, "applied": 1, "scheduled": []}}
    daemon.terminate()


def test_a_huge_invalid_batch_gets_a_bounded_reply(broker, daemon_factory, hq_factory):
    """A 10 MB upsert of 10,000 bad products was answered with a 599 kB reply; now the first problems and a count."""
    daemon = daemon_factory(broker.url).start()
    hq = hq_factory(broker.port)
    wait_online(hq)
    items = [{"sku": f"bad sku {n}", "name": "名" * 320, "price": 12.8, "unit": "kg"} for n in range(10_000)]
    payload = json.dumps({"id": "big", "items": items}, ensure_ascii=False)
    assert len(payload.encode()) > 10_000_000
    hq.send("product.upsert", payload)  # sent as it is
    reply = hq.wait(lambda _: next((r for r in hq.replies("product.upsert") if r["id"] == "big"), None), timeout=30)
    assert reply["error"]["code"] == "invalid_argument", reply
    assert len(json.dumps(reply, ensure_ascii=False).encode()) < 4096
    assert reply["error"]["message"].startswith("items[0].sku: ") and reply["error"]["message"].endswith("more problems (20 shown)")
    assert hq.request("ping", {})["ok"] is True
    assert max(len(line) for line in daemon.log().splitlines()) < 4000
    daemon.terminate()


def test_price_history_and_lawful_promotions_through_the_daemon_survive_restarts(broker, daemon_factory, hq_factory):
    daemon = daemon_factory(broker.url, prices={"min_history_hours": 0}).start()  # a base from seconds of history: see test_promotions
    hq = hq_factory(broker.port)
    wait_online(hq)
    hq.request("product.upsert", {"items": [APPLE, MILK]})
    time.sleep(0.05)
    batch = hq.request("price.update", {"items": [
        {"sku": APPLE["sku"], "price": "12.80", "promo_price": "9.90", "promo_end": "2099-12-31"},
        {"sku": MILK["sku"], "price": "3.50", "promo_price": "2.99", "promo_base": "4.50"},  # never charged 4.50
    ]})["result"]
    assert (batch["applied"], batch["refused"][0]["field"], batch["refused"][0]["rule"]) == (1, "items[1].promo_base", "base_above_history")
    when = (datetime.now(UTC) + timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
    later = hq.request("price.update", {"items": [{"sku": MILK["sku"], "price": "3.50", "promo_price": "3.60", "effective_at": when}]})
    change_id = later["result"]["scheduled"][0]["change_id"]
    before = hq.request("price.history", {"sku": APPLE["sku"]})["result"]["intervals"]
    assert [(i["kind"], i["charged"], i["promo_base"]) for i in before] == [("upsert", "12.80", None), ("immediate", "9.90", "12.80")]

    daemon.kill()  # kill -9, then a clean restart: the history is what it was
    daemon.start()
    wait_online(hq, count=2)
    refused = hq.wait(lambda _: hq.events("price.refused"), timeout=20)[0]["data"]  # the scheduled change, judged when it fell due
    assert (refused["change_id"], refused["field"], refused["rule"]) == (change_id, "promo_price", "no_reduction")
    daemon.terminate()
    daemon.start()
    wait_online(hq, count=3)
    assert hq.request("price.history", {"sku": APPLE["sku"]})["result"]["intervals"] == before
    assert [i["charged"] for i in hq.request("price.history", {"sku": MILK["sku"]})["result"]["intervals"]] == ["3.50"]
    assert products(daemon)[MILK["sku"]][:2] == ("3.50", None)
    daemon.terminate()


def test_check_refuses_a_bad_prices_section(tmp_path):
    from tests.edge.test_config import check

    config = tmp_path / "store.toml"
    config.write_text('[store]\nid = "s1"\ntimezone = "Asia"\n[prices]\nlookback_days = 3\nfake_promotion = "hide"\nhistory_day = 30\n')
    result = check(config, tmp_path)
    assert result.returncode != 0
    for words in ("prices.lookback_days: Input should be greater than or equal to 7", "prices.fake_promotion: Input should be 'refuse' or 'plain'",
                  "prices.history_day: unknown key; did you mean 'history_days'?",
                  "store.timezone: Value error, not an IANA time zone"):  # the catalogue ends promotions at the store's midnight
        assert words in result.stderr, result.stderr
