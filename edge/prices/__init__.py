"""Prices a store can prove (core): `history.py` every price in force per product over time, append-only in SQLite;
`promotions.py` the rule that judges a promotion's original price (原价) against that history; `rules.py` the label
content rules an item must pass (a job adds its own check through `JobSpec.catalog_check`).

The catalogue (`edge/catalog.py`) writes the history and applies the rules in the transaction of each price change; jobs only read.
"""
