"""WSGI entry for any WSGI server: the only gateway file that reads the environment."""

from __future__ import annotations

import threading

from cli.runtime import build_gateway, start_login_watcher, wire_actors, wsgi_app
from settings import Settings

_settings = Settings.from_env()
wire_actors(_settings)
# The server's own proxy handling should be off: HERO_TRUSTED_PROXIES decides here.
application = wsgi_app(build_gateway(_settings), _settings)
# The Mycelium login watcher runs beside the app for the life of the process.
start_login_watcher(_settings, threading.Event())
