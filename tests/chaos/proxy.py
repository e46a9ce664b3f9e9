"""A TCP proxy that can be cut, restored and slowed, in front of a shared service."""

from __future__ import annotations

import contextlib
import socket
import time

from tests.support.tcp_proxy import TcpProxy


class ChaosProxy(TcpProxy):
    """``TcpProxy`` plus ``delay_s``: every chunk forwarded waits that long first."""

    def __init__(self, target: tuple[str, int], name: str) -> None:
        super().__init__(target)
        self.name = name
        self.delay_s = 0.0

    def restore(self) -> None:
        """Listen again on the same port (after ``down()``)."""
        for _ in range(50):
            try:
                self.up()
                return
            except OSError:  # the old listener's port is not free yet
                time.sleep(0.1)
        raise RuntimeError(f"proxy {self.name} could not listen on {self.port} again")

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:  # type: ignore[override]
        try:
            while data := src.recv(65536):
                if self.delay_s:
                    time.sleep(self.delay_s)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
