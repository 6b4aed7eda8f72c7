"""Static files of the web pages (plain HTML, CSS and JS, no CDN), shipped as package data."""
