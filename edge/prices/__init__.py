"""Prices a store can prove (core): `history.py` every price in force per product over time, append-only in SQLite;
`promotions.py` the rule that judges a promotion's original price (原价) against that history.

The catalogue (`edge/catalog.py`) writes both in the transaction of each price change; jobs only read.
"""
