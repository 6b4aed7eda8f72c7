"""The whole daemon on the hardware PAwR path: a controller reached over real TCP HCI, labels onboarded by its sweep.

The access point is configured as a store with a bench dongle would configure it
(`tcp-client:HOST:PORT`, docs/esl-hardware.md §4); behind that port an emulating controller on the
test's link stands in for the dongle, and unconfigured virtual tags advertise on the same link.
Wall clock, real Mosquitto, the short job-test train.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

from devices.esl.bumble.controller import PawrController, RadioModel
from devices.esl.bumble.link import IndexedLink
from devices.esl.bumble.tag import VirtualTag
from devices.esl.tag_core import EslState
from tests.edge.esl.jobkit import FAST_TRAIN, PRODUCTS, running


@contextlib.asynccontextmanager
async def dongle(link: IndexedLink) -> AsyncIterator[int]:
    """An emulating PAwR controller on `link` served as HCI over TCP on loopback; yields its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = await open_tcp_server_transport_with_socket(sock)
    controller = PawrController("dongle", link=link, empty_subevents=True)
    server.source.set_packet_sink(controller)
    controller.host = server.sink
    try:
        yield sock.getsockname()[1]
    finally:
        server.server.close()
        await server.server.wait_closed()
        if controller in link.controllers:
            link.remove_controller(controller)


async def test_the_daemon_onboards_new_labels_over_tcp_hci_and_lights_them_for_a_picker(broker, tmp_path) -> None:
    link = IndexedLink()
    tags = []
    for n in range(2):
        tag = VirtualTag.create(link, f"C4:00:00:00:06:{n + 1:02X}", radio=RadioModel())
        await tag.start()
        tags.append(tag)
    try:
        async with dongle(link) as port:
            pawr = {"transports": [f"tcp-client:127.0.0.1:{port}"], "train": FAST_TRAIN, "onboarding_interval_s": 5}
            async with running(broker.port, tmp_path / "data", backend="pawr", pawr=pawr, operation_timeout_s=2.0,
                               picking={"timeout_s": 30}) as d:
                async def onboarded() -> dict:
                    return (await d.request("label.onboarding", {}))["result"]

                deadline = asyncio.get_running_loop().time() + 40
                while (result := await onboarded())["onboarded"] < 2:
                    assert asyncio.get_running_loop().time() < deadline, result
                    await asyncio.sleep(0.5)
                assert result["mode"] == "auto" and result["failed"] == 0 and result["last_sweep"]
                assert all(t.core.state is EslState.SYNCHRONIZED and not t.advertising for t in tags)
                listed = (await d.request("label.list", {}))["result"]["labels"]
                assert sorted(label["id"] for label in listed) == [t.core.address for t in tags]
                assert d.job.health()["onboarding"]["onboarded"] == 2

                await d.request("product.upsert", {"items": PRODUCTS[:1]})
                target = tags[1]
                assert (await d.request("label.bind", {"label": target.core.address, "sku": PRODUCTS[0]["sku"]}))["ok"]
                await d.wait(lambda: d.db("SELECT state FROM esl_labels WHERE id = ?", target.core.address) == [("ok",)], 30)
                started = (await d.request("pick.start", {"order_id": "w1", "items": [{"sku": PRODUCTS[0]["sku"]}]}))
                assert started["ok"] and started["result"]["route"][0]["labels"] == [target.core.address]
                await d.wait(lambda: target.core.led(0) is not None, 10)
                assert target.core.displayed_bytes(0) is not None  # its price image went through the train too
            keys = d.db("SELECT count(*) FROM esl_label_keys WHERE state = 'onboarded'")
            assert keys == [(2,)]
    finally:
        for tag in tags:
            await tag.close()
