"""AI self-service scale job: variable-weight barcodes, pricing and price labels for weighed goods."""
