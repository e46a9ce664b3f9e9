"""WSGI entry for any WSGI server: the only gateway file that reads the environment."""

from __future__ import annotations

from cli.runtime import build_gateway, wire_actors
from settings import Settings

_settings = Settings.from_env()
wire_actors(_settings)
application = build_gateway(_settings)
