"""AI self-service scales: weigh, recognise the produce from one camera frame, let the customer tap, print the label.

- `job.py` wires it and serves the customers' taps; `plugin.py` is how the core sees the job;
  `config.py` is `[scale]`; `schema.py` its tables; `commands.py` headquarters' gallery commands;
  `products.py` the scale catalogue (what the scales sell, in which display unit) and `search.py` its
  per-field search; `screen.py` what a touch screen shows (snapshot, states and codes, product cards);
  `suspicion.py` when a choice is asked about; `learning.py` when a tap may teach the gallery;
  `errors.py` the refusal codes and their HTTP status.
- `weighing/`: the pure session state machine, the station that feeds it from its devices, the
  devices built from the config (serial scale, camera, printer, or their simulators) and
  `simulated.py`, the simulated scale driven from outside (place an item and its photo, lift it).
- `recognition/`: the ONNX produce model, the gallery (in memory and in SQLite), the produce file
  (model class → SKU) and the worker thread that owns the model and the gallery.
- `pricing/`: prices of weighed and counted items, variable-measure barcodes, the printed label.
- `web/`: the customers' touch screens; `cli/`: `store-edge scale watch`, `store-edge produce`;
  `demo.py`: the job's scenes of `store-edge demo`.
"""
