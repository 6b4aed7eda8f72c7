"""The link to headquarters: MQTT topics, commands with de-duplicated replies, and the outbox drain."""
