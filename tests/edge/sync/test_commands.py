"""Commands over a real broker: replies, de-duplication by id, and every kind of bad request."""

from __future__ import annotations

from tests.conftest import wait_online


def test_round_trip_and_repeat_applied_once(broker, daemon_factory, hq_factory):
    daemon = daemon_factory(broker.url).start()
    hq = hq_factory(broker.port)
    wait_online(hq)

    pong = hq.request("ping", {})
    assert pong["ok"] is True and pong["result"]["version"]

    first = hq.request("link.test", {"count": 3}, request_id="same-id")
    again = hq.request("link.test", {"count": 3}, request_id="same-id")
    assert again == first
    hq.wait(lambda _: len(hq.events("link.test")) >= 3)
    # A second effect would queue three more events; give it time to show up if it existed.
    hq.request("ping", {})
    assert len({e["id"] for e in hq.events("link.test")}) == 3
    daemon.terminate()


def test_bad_requests_get_error_replies_and_daemon_keeps_serving(broker, daemon_factory, hq_factory):
    daemon = daemon_factory(broker.url).start()
    hq = hq_factory(broker.port)
    wait_online(hq)

    not_json = hq.request("ping", b"{not json")
    assert not_json["ok"] is False and not_json["id"] is None
    assert not_json["error"]["code"] == "invalid_payload"

    no_id = hq.request("ping", b'{"count": 1}')
    assert no_id["error"]["code"] == "invalid_payload" and "id" in no_id["error"]["message"]

    array = hq.request("ping", b"[1, 2]")
    assert array["error"]["code"] == "invalid_payload"

    unknown = hq.request("price.teleport", {})
    assert unknown["error"]["code"] == "unknown_command" and "price.teleport" in unknown["error"]["message"]

    wrong_type = hq.request("link.test", {"count": "many"})
    assert wrong_type["error"]["code"] == "invalid_argument"
    assert wrong_type["error"]["message"].startswith("count:")

    out_of_range = hq.request("link.test", {"count": 0})
    assert out_of_range["error"]["code"] == "invalid_argument"

    typo = hq.request("link.test", {"cuont": 2})
    assert "cuont: unknown field" in typo["error"]["message"]

    reused = hq.request("ping", {}, request_id="used-once")
    assert reused["ok"]
    conflict = hq.request("link.test", {"count": 1}, request_id="used-once")
    assert conflict["error"]["code"] == "conflict"

    assert hq.request("ping", {})["ok"] is True
    assert hq.events("link.test") == []  # none of the bad requests had an effect
    assert "command.invalid_argument" in daemon.log()
    daemon.terminate()
