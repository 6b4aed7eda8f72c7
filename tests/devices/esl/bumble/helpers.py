"""What several PAwR test modules build the same way: one virtual tag and one AP central on an indexed link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from devices.esl.bumble.central import EslCentral
from devices.esl.bumble.link import IndexedLink
from devices.esl.bumble.tag import VirtualTag


@asynccontextmanager
async def tag_and_central(address: str, *, timeout: float, within_s: float = 3600.0,
                          **tag_options: object) -> AsyncIterator[tuple[VirtualTag, EslCentral]]:
    """A started tag at `address` and a central whose operations time out after `timeout`; `within_s` virtual s at most."""
    async with asyncio.timeout(within_s):
        link = IndexedLink()
        tag = VirtualTag.create(link, address, **tag_options)  # type: ignore[arg-type]
        await tag.start()
        central = await EslCentral.create(link, timeout=timeout, connect_timeout=timeout)
        try:
            yield tag, central
        finally:
            await tag.close()
