"""Rig files shipped with ionrig (YAML, read with importlib.resources)."""
