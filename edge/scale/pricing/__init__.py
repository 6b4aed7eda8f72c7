"""Money on the scale: prices of weighed and counted items, variable-measure barcodes, the printed label."""
