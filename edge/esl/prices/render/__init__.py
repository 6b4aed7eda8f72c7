"""Rendering a price label: content and display spec, layouts, the price figure, QR code, fitted text, cached glyph runs and fonts."""
