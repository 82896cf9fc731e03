"""`smsbatch-bot simulator`: serve the EAPI stand-in until Ctrl-C or SIGTERM; it never sends an SMS.

Credentials: when EAPI_USERNAME and EAPI_PASSWORD are both set, only that pair is accepted;
otherwise any non-empty pair is. Slack settings are not needed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation
from types import FrameType

from bot.config import load_settings
from bot.eapi.simulator.delivery import DEFAULT_MIX, DeliveryModel, parse_mix
from bot.eapi.simulator.server import SimulatorServer
from bot.eapi.simulator.state import parse_script
from bot.logs import configure_logging

logger = logging.getLogger(__name__)


def _script(value: str) -> str:
    try:
        parse_script(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {value!r}")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be seconds (0 or more), got {value!r}")
    return number


def _credits(value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal(-1)
    if not number.is_finite() or number < 0:
        raise argparse.ArgumentTypeError(f"must be a balance (0 or more), got {value!r}")
    return number


def _mix(value: str) -> dict[str, float]:
    try:
        return parse_mix(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _scale(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {value!r}")
    return number


def _port(value: str) -> int:
    if not (value.isdigit() and int(value) <= 65535):
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {value!r}")
    return int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the simulator's options."""
    parser.add_argument("--port", type=_port, default=8025, help="listen port (default 8025)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--credits", type=_credits, default=Decimal(10000), help="starting balance (10000)"
    )
    parser.add_argument(
        "--script",
        type=_script,
        default="",
        help="answers for the next send_batch requests, e.g. 40,503,timeout,0 "
        "(<100: that status; >=100: that HTTP status; timeout: process, then hold; "
        "drop: process, then close; garbage: an HTML page; 0: normal)",
    )
    parser.add_argument(
        "--latency", type=_seconds, default=0.0, help="seconds added to each request"
    )
    parser.add_argument(
        "--fault-rate",
        type=_fraction,
        default=0.0,
        help="fraction of send_batch requests answered 40 or HTTP 503 at random",
    )
    parser.add_argument(
        "--hang-seconds",
        type=_seconds,
        default=30.0,
        help="how long a scripted timeout holds the connection (30)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed for --fault-rate and the delivery mix"
    )
    parser.add_argument(
        "--delivery-mix",
        type=_mix,
        default=dict(DEFAULT_MIX),
        help="weights of what happens to accepted messages, e.g. "
        "delivered=88,failed=6,transient=4,pending=2 (the default)",
    )
    parser.add_argument(
        "--time-scale",
        type=_scale,
        default=1.0,
        help="how much faster than the wall clock reports move (60: a minute a second)",
    )
    parser.add_argument(
        "--report-script",
        type=_script,
        default="",
        help="answers for the next get_report requests, tokens as for --script",
    )
    parser.add_argument(
        "--push-url",
        default=None,
        help="push delivery reports here by GET, e.g. "
        "http://127.0.0.1:3000/eapi/push/report?pass=SECRET",
    )
    parser.add_argument(
        "--reply-push-url",
        default=None,
        help="also push each reply injected with POST /admin/inbox to this URL by GET, as "
        "BulkSMS's reply push does (e.g. http://127.0.0.1:3000/eapi/push/reply?pass=SECRET)",
    )


def _server(
    args: argparse.Namespace, username: str | None, password: str | None
) -> SimulatorServer:
    """The simulator the options describe, bound to its port (OSError when it cannot be)."""
    return SimulatorServer(
        args.host,
        args.port,
        username=username,
        password=password,
        credits=args.credits,
        script=args.script,
        latency=args.latency,
        fault_rate=args.fault_rate,
        hang_seconds=args.hang_seconds,
        seed=args.seed,
        delivery=DeliveryModel(args.delivery_mix, args.time_scale),
        report_script=args.report_script,
        push_url=args.push_url,
        reply_push_url=args.reply_push_url,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; exit 0 after a clean stop, 2 when it cannot listen."""
    # The simulator is the EAPI: where a client would find one (EAPI_URL) is no concern of its,
    # so credentials alone must not make it demand a URL.
    settings = load_settings({**os.environ, "EAPI_URL": "simulator"})
    configure_logging(settings)
    username = settings.eapi_username
    password = settings.eapi_password.reveal() if settings.eapi_password else None
    if username is None or password is None:
        username = password = None
    try:
        server = _server(args, username, password)
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        print(f"smsbatch-bot simulator: cannot listen on {where}: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        logger.info("simulator stopping on signal %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    who = f"user {username!r} only" if username else "any non-empty username and password"
    logger.info("EAPI simulator at %s accepting %s; nothing is ever sent", server.url, who)
    print(f"EAPI simulator listening on {server.url} (EAPI_URL={server.url})", flush=True)
    server.serve_until(stop)
    return 0
