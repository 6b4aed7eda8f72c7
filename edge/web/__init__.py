"""The daemon's local web server: the store status page, the scales' touch screens and their JSON API."""

from edge.web.server import WebServer, build_app
from edge.web.sources import Sources

__all__ = ["Sources", "WebServer", "build_app"]
