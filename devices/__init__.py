"""Device drivers speaking real protocols, plus same-protocol simulators; nothing here knows about MQTT or SQLite."""
