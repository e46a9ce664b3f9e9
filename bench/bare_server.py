"""The HTTP limit: a bare Falcon app on waitress that reads the body and answers 200.

Run in its own process, ``python -m bench.bare_server --port P --threads T``, with the
same waitress settings as the gateway, so the only difference from the gateway is the
gateway's own work (middleware, signature check, confirmed publish, logging).
"""

from __future__ import annotations

import argparse
import sys

import falcon
import waitress


class Sink:
    """``POST /webhooks/{provider}``: read the whole body, answer 200 with a small JSON."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, provider: str) -> None:
        req.bounded_stream.read()
        resp.media = {"received": True}


class Health:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}


def create_app() -> falcon.App[falcon.Request, falcon.Response]:
    app = falcon.App()
    app.add_route("/webhooks/{provider}", Sink())
    app.add_route("/healthz", Health())
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    server = waitress.create_server(
        create_app(),
        host="127.0.0.1",
        port=args.port,
        threads=args.threads,
        max_request_body_size=1024 * 1024,
        ident="bench",
    )
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
