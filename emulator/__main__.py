"""``python -m emulator``: run the local SP-API emulator in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from emulator.server import EmulatorServer


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Local Selling Partner API emulator: LWA token endpoint, SP-API operations "
        "validated against the vendored models, usage plans, state and fault injection "
        "(control API under /_emulator/).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on, 0 for any (default: 8765)")
    parser.add_argument(
        "--rate-scale", type=float, default=1.0, help="multiply every usage-plan rate (default: 1)"
    )
    parser.add_argument(
        "--sandbox-usage-plan",
        action="store_true",
        help="apply the sandbox plan (5 rps, burst 15) everywhere",
    )
    parser.add_argument("--token-ttl", type=int, default=3600, help="access-token lifetime in seconds")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=2.0,
        help="seconds a DF transaction stays Processing before it reads Success (default: 2)",
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=2,
        help="orders per page of listAllFulfillmentOrders / getFeatureInventory (default: 2)",
    )
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="CLIENT_ID:CLIENT_SECRET:REFRESH_TOKEN:SELLER_ID",
        help="register an account at start (repeatable); or POST /_emulator/accounts later",
    )
    parser.add_argument(
        "--log-requests", action="store_true", help="log METHOD /path status for each request"
    )
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = EmulatorServer(
        args.host,
        args.port,
        rate_scale=args.rate_scale,
        sandbox_usage_plan=args.sandbox_usage_plan,
        token_ttl_seconds=args.token_ttl,
        transaction_settle_seconds=args.settle_seconds,
        page_size=args.page_size,
        log_requests=args.log_requests,
    )
    for spec in args.account:
        parts = spec.split(":", 3)
        if len(parts) != 4:
            print(
                f"--account needs CLIENT_ID:CLIENT_SECRET:REFRESH_TOKEN:SELLER_ID, got {len(parts)} parts",
                file=sys.stderr,
            )
            return 2
        server.register_account(*parts)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
