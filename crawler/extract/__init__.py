"""Extractors: pure functions from a fetched page (bytes or decoded text) to data; no I/O."""
