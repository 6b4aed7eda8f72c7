"""AI self-service scales: weigh, recognise the produce from one camera frame, let the customer tap, print the label.

- `job.py` wires it and serves the customers' taps; `plugin.py` is how the core sees the job;
  `config.py` is `[scale]`; `schema.py` its tables; `commands.py` headquarters' gallery commands;
  `products.py` the catalogue view the screen searches; `learning.py` when a tap may teach the gallery.
- `weighing/`: the pure session state machine, the station that feeds it from its devices, and
  the devices built from the config (serial scale, camera, printer, or their simulators).
- `recognition/`: the ONNX produce model, the gallery (in memory and in SQLite), the produce file
  (model class → SKU) and the worker thread that owns the model and the gallery.
- `pricing/`: prices of weighed and counted items, variable-measure barcodes, the printed label.
- `web/`: the customers' touch screens; `cli/`: `store-edge scale watch`, `store-edge produce`;
  `demo.py`: the job's scenes of `store-edge demo`.
"""
