"""One weighing at a time per scale: the pure session state machine, the station around it, and its devices."""
