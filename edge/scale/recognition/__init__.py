"""Produce recognition: the ONNX model, the gallery in memory and in SQLite, the produce file and the worker thread."""
