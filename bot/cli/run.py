"""`smsbatch-bot run` (the default): the Slack app and its sender worker in one process.

The composition root: the only module of `bot` that imports Slack libraries. It picks the real
parts — SQLite store, EAPI client (or the in-process simulator), sender thread, the upload
checker's worker process (`bot.intake.planner.PoolPlanner`: checking a big file in this process
would hold the GIL and delay every ack), Slack web client, Bolt app — and serves Socket Mode when
SLACK_APP_TOKEN is set, else HTTP with waitress at `POST /slack/events` plus `GET /healthz`.
SIGTERM and SIGINT stop it cleanly: no new requests, the sender finishes its current request
and gives up its lease, queued Slack work is flushed, the checker's worker is stopped.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bot.approving import approve_by
from bot.cli.health import MAX_HEARTBEAT_AGE
from bot.cli.metrics import StoreCollector, build_registry, exposition, serve_metrics
from bot.cli.replicate import Replicator
from bot.config import Settings, load_settings
from bot.consent import ConsentService
from bot.eapi.client import EapiClient, create_client
from bot.errors import ConfigError
from bot.intake.planner import PoolPlanner
from bot.intake.pricing import PriceTable
from bot.logs import configure_logging
from bot.sending.inbox import InboxTask
from bot.sending.reports import PushReceiver, ReportPoller
from bot.sending.retry import RetryPolicy
from bot.sending.sender import Sender
from bot.service import BatchService
from bot.store.db import Store, stored_plan_digest
from bot.store.inbox import cursor as inbox_cursor
from bot.store.reports import DeliveryStore
from handlers.app import create_app
from handlers.plumbing.http import PushHandler, PushRoutes, SlackWsgi
from handlers.plumbing.replies import SlackReplies
from handlers.plumbing.slackio import make_web_client
from handlers.services import Services, SlackSide

logger = logging.getLogger(__name__)

LISTEN_ALL = "0.0.0.0"  # noqa: S104 - in a container the app must listen on every interface


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`run` options: where HTTP mode listens."""
    parser.add_argument(
        "--host", default=LISTEN_ALL, help="HTTP mode: interface to listen on (default: all)"
    )


@dataclass
class Runtime:
    """Everything the process started, so it can be stopped in the right order."""

    settings: Settings
    store: Store
    eapi: EapiClient
    sender: Sender
    services: Services
    app: App
    planner: PoolPlanner
    collector: StoreCollector
    registry: CollectorRegistry
    inbox: InboxTask

    def health(self) -> tuple[bool, dict[str, Any]]:
        """`/healthz`: what `smsbatch-bot health --json` prints, plus whether it is simulated."""
        try:
            snapshot = self.store.health(time.time())
        except sqlite3.DatabaseError as exc:
            reason = f"the database cannot be read: {exc}"
            return False, {"ok": False, "problem": reason, "db_ok": False}
        problem = snapshot.problem(MAX_HEARTBEAT_AGE)
        report = snapshot.as_dict() | {"ok": problem is None, "problem": problem}
        return problem is None, report | {"simulated": self.eapi.simulated}

    def push_routes(self) -> PushRoutes | None:
        """HTTP mode's BulkSMS push routes, when SMSBATCH_PUSH_SECRET is set."""
        secret = self.settings.push_secret
        if secret is None:
            return None
        handlers: dict[str, PushHandler] = {
            "report": PushReceiver(self.store, self.services.notifier),
            "reply": self.inbox.pushed,
        }
        return PushRoutes(secret.reveal(), handlers)

    def close(self) -> None:
        """Stop the sender, flush Slack work, stop the checker, close clients and the database."""
        self.sender.stop()
        self.services.close()  # waits for the jobs under way, some of which use the planner
        self.planner.close()
        self.eapi.close()
        self.store.close()


def build(settings: Settings) -> Runtime:
    """Open the store, the EAPI client, the service and the Bolt app (auth.test runs here)."""
    store = Store.open(settings.db_path)
    eapi = create_client(settings)
    client = make_web_client(settings)
    # Balance reads share the sender's client: the EAPI asks for one connection at a time, and
    # the client's lock makes a balance read wait (briefly) for a submission in flight.
    slack = SlackSide(settings, client, balance=eapi.get_credits)
    prices = PriceTable.load(settings.prices_path)
    planner = PoolPlanner()  # its worker starts now, while auth.test runs
    reports = ReportPoller(store, eapi, slack.notifier, settings.report_delays)
    sender = Sender(
        store,
        eapi,
        slack.notifier,
        RetryPolicy.from_settings(settings),
        dedup_window_seconds=settings.dedup_window_seconds,
        pending_ttl_seconds=settings.pending_ttl_seconds,
        stored_digest=partial(planner.run_or_here, stored_plan_digest, str(store.path)),
        side_tasks=[reports],
    )
    service = BatchService(
        store,
        settings,
        prices,
        is_approver=slack.approvers.is_approver,
        notifier=slack.notifier,
        wake_sender=sender.wake,
        simulated=eapi.simulated,
        planner=planner,
        approve=approve_by(planner.run_or_here),  # the app's process stays free for acks
    )
    consent = ConsentService(
        store, settings.default_country, is_approver=slack.approvers.is_approver
    )
    services = slack.bind(service, simulated=eapi.simulated, consent=consent)
    inbox = add_inbox(settings, store, eapi, sender, services)
    try:
        app = create_app(settings, services, client=client)
    except (BoltError, SlackApiError, OSError) as exc:
        services.close()
        planner.close()
        eapi.close()
        store.close()
        raise ConfigError(
            [f"Slack did not accept the bot token at {settings.slack_api_url}: {exc}"]
        ) from None
    collector = StoreCollector(
        store,
        delivery_states=DeliveryStore(store).totals,
        inbox_lag_seconds=_inbox_lag(store) if settings.inbox_poll_seconds > 0 else None,
    )
    registry = build_registry(collector, eapi.request_seconds, client.api_errors)
    return Runtime(
        settings, store, eapi, sender, services, app, planner, collector, registry, inbox
    )


def _inbox_lag(store: Store) -> Callable[[], float | None]:
    """Seconds since the inbox was last read (None before the first read), for the metrics."""

    def lag() -> float | None:
        _, polled_at = inbox_cursor(store)
        return None if polled_at is None else max(0.0, time.time() - polled_at)

    return lag


def add_inbox(
    settings: Settings, store: Store, eapi: EapiClient, sender: Sender, services: Services
) -> InboxTask:
    """The inbox task, as one of the sender's side tasks (its replies go to Slack)."""
    sink = SlackReplies(services.cards, settings.replies_channel)
    task = InboxTask(
        store,
        eapi,
        sink,
        poll_seconds=settings.inbox_poll_seconds,
        default_country=settings.default_country,
        clock=time.time,
    )
    sender.side_tasks = (*sender.side_tasks, task)  # before `sender.start()`
    return task


def _serve_http(runtime: Runtime, host: str) -> None:
    from waitress import create_server  # local: Socket Mode does not need it

    server = create_server(
        SlackWsgi(
            runtime.app,
            runtime.health,
            push=runtime.push_routes(),
            metrics=exposition(runtime.registry),
        ),
        host=host,
        port=runtime.settings.port,
        threads=8,
    )
    logger.info(
        "HTTP mode: POST /slack/events, GET /healthz and GET /metrics on %s:%s",
        host,
        server.effective_port,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # waitress's loop stops on SystemExit and shuts its workers down

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.run()
    finally:
        server.close()


def _serve_socket_mode(runtime: Runtime, host: str) -> None:
    token = runtime.settings.slack_app_token
    assert token is not None  # socket_mode means it is set
    handler = SocketModeHandler(runtime.app, app_token=token.reveal())
    stopping = threading.Event()
    port = runtime.settings.metrics_port
    metrics = None if port is None else serve_metrics(runtime.registry, port, host)
    if metrics is not None:
        logger.info("Socket Mode: Prometheus metrics on %s:%s", host, metrics.server_port)

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        _connect(handler, runtime.settings.slack_api_url)
        while not stopping.wait(1.0):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()


def _connect(handler: SocketModeHandler, api_url: str) -> None:
    """Open the WebSocket; a refused app token is a set-up problem (one line, exit 2)."""
    try:
        handler.connect()  # type: ignore[no-untyped-call]
    except SlackApiError as exc:
        error = exc.response.get("error")
        problem = (
            f"Slack did not accept SLACK_APP_TOKEN at {api_url} (apps.connections.open: {error});"
            " use the app-level token (xapp-…) with the connections:write scope"
        )
        raise ConfigError([problem]) from None
    # The built-in client does not raise when the WebSocket itself fails; it retries on its own.
    if handler.client.is_connected():
        logger.info("Socket Mode: connected")
    else:
        logger.warning("Socket Mode: not connected yet; retrying in the background")


def run(args: argparse.Namespace) -> int:
    """Start the app; returns 0 after a clean shutdown."""
    settings = load_settings()
    settings.require_slack()
    configure_logging(settings)
    runtime = build(settings)
    replicator = None
    try:
        runtime.sender.start()  # refuses a database restored without the safety step
        # Replication starts once the database is known to be this machine's (Litestream
        # catches up on what was written before) and stops after it is closed: the last
        # writes (the lease given up) reach the replica too.
        if settings.replica_url is not None:
            replicator = Replicator(settings.db_path, settings.replica_url)
            runtime.collector.replicator = replicator
            replicator.start()
        if runtime.eapi.simulated:
            logger.warning("EAPI_URL=simulator: nothing is sent; every card says so")
        if settings.socket_mode:
            _serve_socket_mode(runtime, args.host)
        else:
            _serve_http(runtime, args.host)
    finally:
        logger.info("stopping")
        try:
            runtime.close()
        finally:
            if replicator is not None:
                replicator.stop()
    logger.info("stopped")
    return 0
