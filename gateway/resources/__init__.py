"""Falcon resources, one module per area."""
