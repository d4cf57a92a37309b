"""Typed settings for one institution, read from YAML and the environment (owned by the config work)."""
