"""Picking online orders: the pick commands and orders, the LED driver, and the shortest walk through an order's shelves."""
