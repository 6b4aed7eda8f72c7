"""The daemon's local web server: the store status page and its JSON API, plus what each job adds (e.g. scale screens)."""

from edge.web.parts import WebPart
from edge.web.server import WebServer, build_app
from edge.web.sources import Sources

__all__ = ["Sources", "WebPart", "WebServer", "build_app"]
