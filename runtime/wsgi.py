"""WSGI entry for any WSGI server (``runtime.wsgi:application``): the only module that
builds the gateway from the environment at import."""

from __future__ import annotations

import threading

from runtime.bootstrap import bootstrap
from runtime.gateway import build_gateway, start_login_watcher, wsgi_app
from settings import Settings

_settings = Settings.from_env()
bootstrap(_settings)
# The server's own proxy handling should be off: HERO_TRUSTED_PROXIES decides here.
application = wsgi_app(build_gateway(_settings), _settings)
# The Mycelium login watcher runs beside the app for the life of the process.
start_login_watcher(_settings, threading.Event())
