"""Serial retail-scale drivers (MT-SICS, Toledo 8217), their pure codecs and pty-backed simulators."""
