"""Helpers for tests: service probes, processes, and local stand-ins for outside servers."""
