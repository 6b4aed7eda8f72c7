"""Electronic shelf labels: prices on e-paper labels, pick lights, where labels are on the store map, fridges and batteries.

`plugin.py` is the JobSpec (imports `config.py` and `schema.py` only); `job.py` builds the
features below from `[esl]` on one shared radio and runs their tasks; `config.py` composes
`EslSection` from the features' models; `schema.py` is the one ordered migration history, each
step made of the DDL (`tables.py`) of the features owning its tables. `cli.py`, `demo.py` and
`web/` (status-page panels and their API) sit beside the job.

- `radio/`: the backend chosen once from config (`backend.py`: simulated fleet, Bluetooth in
  connected mode, or PAwR on Bumble), one operation per label at a time (`per_label.py`), the
  label inventory the radio reports (`inventory.py`, table `esl_labels`), radio settings
  (`config.py`), and for PAwR hardware the keys kept across restarts (`keys.py`, `bonds.py`) and
  the onboarding sweep (`onboarding.py`).
- `prices/`: which product each label shows (`bindings.py`: `label.bind`, `label.list`), the
  push queue (`queue.py`, `esl_work`), the pusher (`pushing.py`), labels following the
  catalogue and promotion ends (`following.py`), the price audit trail of every image a label
  acknowledged, hash-chained (`audit.py`, `esl_price_audit`: `price.audit.export`, `price.audit.verify`),
  the demo catalogue (`demo_store.py`), retry and demo settings (`config.py`).
- `prices/render/`: drawing a label: content and display spec (`content.py`), `render.py`,
  `layouts.py`, the price figure (`price.py`), `qr.py`, fitted text (`text.py`), cached glyph
  runs (`glyphs.py`), `fonts.py`, `geometry.py`, typed render errors (`errors.py`).
- `picking/`: `pick.*` commands and orders (`orders.py`, `esl_pick_orders`, `esl_pick_items`),
  the LED driver (`lights.py`), the walk solver (`routing.py`), route planning from label
  positions (`planning.py`), `Picking` settings (`config.py`).
- `health/`: the fridge cold chain (`coldchain.py`, `esl_readings`, `esl_alerts`,
  `esl_reports`), its alert rule (`alerts.py`), the daily report (`report.py`), the battery
  sweep (`battery.py`), their settings (`config.py`).
- `map/`: the store map (`storemap.py`, `[esl.map]`), positioning from anchor scans
  (`positioning.py`) and its loop with `locate` (`locating.py`, `esl_positions`), planogram
  compliance (`planogram.py`, `esl_planogram`, `esl_deviations`), the SVG picture
  (`picture.py`), positioning settings (`config.py`).

Features import each other one way only: picking uses the map (places, walking graph); the map,
prices, health and radio use no other feature (the audit trail reads where a label is from the map's
tables, `esl_positions` and `esl_planogram`, without importing it). All share the radio through `EslRadio`, handed
over by the job.
"""
