"""Topic layout of the headquarters contract (`store-edge/v1/<store_id>/...`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """Every topic one store uses, derived from the configured prefix and store id."""

    prefix: str
    store_id: str

    @property
    def root(self) -> str:
        """`<prefix>/<store_id>`, the subtree the broker's ACL gives this store."""
        return f"{self.prefix}/{self.store_id}"

    @property
    def status(self) -> str:
        """Retained online/offline state (the last will)."""
        return f"{self.root}/status"

    @property
    def commands(self) -> str:
        """Subscription filter for every command."""
        return f"{self.root}/cmd/#"

    def command(self, name: str) -> str:
        """Where headquarters sends command `name`."""
        return f"{self.root}/cmd/{name}"

    def command_name(self, topic: str) -> str | None:
        """The command name of a `cmd/<name>` topic, or None for anything else.

        A `/` in the name reads as `.`: RabbitMQ's MQTT plugin (3.10) turns every `.` of a topic into
        `/` on the way out, so `cmd/price.update` reaches a store as `cmd/price/update` (command
        names never hold a `/`).
        """
        head = f"{self.root}/cmd/"
        return topic[len(head):].replace("/", ".") if topic.startswith(head) and len(topic) > len(head) else None

    def reply(self, name: str) -> str:
        """Where the reply to command `name` goes."""
        return f"{self.root}/reply/{name}"

    def event(self, kind: str) -> str:
        """Where events of `kind` go."""
        return f"{self.root}/event/{kind}"

    def telemetry(self, kind: str) -> str:
        """Where coalesced health figures of `kind` go."""
        return f"{self.root}/telemetry/{kind}"
