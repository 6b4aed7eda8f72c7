"""An access point's SMP bonds in SQLite: the Bumble key store a hardware AP's host pairs and encrypts with.

A label bonds with the AP that onboarded it (LE Secure Connections, Just Works) and comes back to
an encrypted link with it to be updated (esl.md §7). An AP whose bonds lived only in memory would
be a stranger after a restart and have to pair again, which a label may refuse. Bumble asks its
key store on the loop (`get`, `get_all`) and awaits it when pairing ends (`update`), so lookups
are answered from memory and changes are written through the store's writer thread. Imported only
on the hardware PAwR path (it needs Bumble).
"""

from __future__ import annotations

import structlog
from bumble.keys import KeyStore, PairingKeys

from edge.esl.radio import keys
from edge.store import Store

log = structlog.get_logger("esl")


class StoredBonds(KeyStore):
    """One AP's bonds by peer address: read once at start, every change committed before Bumble goes on."""

    def __init__(self, store: Store, ap: int, stored: dict[str, dict[str, object]]) -> None:
        """Start from the rows `keys.bonds` read for AP row `ap`; a row that no longer parses is left out (and logged)."""
        self._store = store
        self._ap = ap
        self._keys: dict[str, PairingKeys] = {}
        for peer, value in stored.items():
            try:
                self._keys[peer] = PairingKeys.from_dict(value)
            except (KeyError, TypeError, ValueError, AttributeError):
                log.error("esl.keys.bond_damaged", label=peer, hint="the label is paired again at its next connection")

    async def delete(self, name: str) -> None:
        """Forget a bond (the label forgot it)."""
        self._keys.pop(name, None)
        await self._store.write(lambda tx: keys.delete_bond(tx, self._ap, name))

    async def update(self, name: str, pairing_keys: PairingKeys) -> None:
        """Keep a new or changed bond."""
        self._keys[name] = pairing_keys
        value = pairing_keys.to_dict()
        await self._store.write(lambda tx: keys.save_bond(tx, self._ap, name, value))

    async def get(self, name: str) -> PairingKeys | None:
        """The bond with a peer, if any."""
        return self._keys.get(name)

    async def get_all(self) -> list[tuple[str, PairingKeys]]:
        """Every bond."""
        return list(self._keys.items())
