"""The Bolt app factory: `create_app(settings, services, *, client=None)`, with no import-time work.

`Services` bundles everything the listeners call. `SlackSide` builds the Slack-facing parts that
must exist before the `BatchService` (the notifier and the approver check, which the service is
given), then `SlackSide.bind(service)` completes the bundle. The composition root (bot.cmd_run)
and the scenario tests use the same two steps. `create_app` also resumes the uploads a stopped
process left unanswered.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from slack_bolt import App, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.service import BatchService
from handlers import actions, commands, modals, resume, uploads, wording
from handlers.approvers import ApproverDirectory
from handlers.cards import BalanceCache, Cards
from handlers.download import Downloader
from handlers.jobs import Jobs
from handlers.notifier import MIN_EDIT_INTERVAL, SlackNotifier
from handlers.slackio import SlackIO

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    """What the listeners use: the core service and the Slack-side helpers."""

    batches: BatchService
    io: SlackIO
    cards: Cards
    notifier: SlackNotifier
    approvers: ApproverDirectory
    downloader: Downloader
    jobs: Jobs
    balance: BalanceCache
    simulated: bool
    clock: Callable[[], float] = time.time

    def close(self) -> None:
        """Finish queued Slack work, flush pending card edits, and close the download session."""
        self.jobs.shutdown(wait=True)
        self.notifier.stop()
        self.downloader.close()


class SlackSide:
    """The Slack-facing parts the BatchService needs first: notifier and approver check."""

    def __init__(
        self,
        settings: Settings,
        client: WebClient,
        *,
        balance: Callable[[], Decimal],
        min_edit_interval: float = MIN_EDIT_INTERVAL,
        jobs: Jobs | None = None,
    ) -> None:
        if settings.slack_bot_token is None:
            raise ValueError("SlackSide needs SLACK_BOT_TOKEN; call settings.require_slack()")
        self.settings = settings
        self.io = SlackIO(client)
        self.approvers = ApproverDirectory(client, settings.approvers)
        self.notifier = SlackNotifier(min_interval=min_edit_interval)
        self.balance = BalanceCache(balance)
        self.downloader = Downloader(
            settings.slack_bot_token,
            max_bytes=settings.max_file_bytes,
            api_url=settings.slack_api_url,
        )
        self.jobs = jobs or Jobs()

    def bind(self, batches: BatchService, *, simulated: bool) -> Services:
        """Complete the bundle with the service and start the notifier."""
        cards = Cards(
            batches,
            self.io,
            self.balance,
            approvers=self.settings.approvers,
            self_approval=self.settings.self_approval,
        )
        self.notifier.bind(cards)
        self.notifier.start()
        return Services(
            batches=batches,
            io=self.io,
            cards=cards,
            notifier=self.notifier,
            approvers=self.approvers,
            downloader=self.downloader,
            jobs=self.jobs,
            balance=self.balance,
            simulated=simulated,
        )


def create_app(settings: Settings, services: Services, *, client: WebClient | None = None) -> App:
    """The Bolt app with every listener registered (calls auth.test once, like any Bolt app).

    Once Slack accepted the token, uploads the last process claimed but never answered are
    queued on the job pool again (`handlers.resume`).
    """
    secret = settings.slack_signing_secret
    app = App(
        client=client or services.io.client,
        signing_secret=secret.reveal() if secret is not None else None,
        process_before_response=False,
        name="smsbatch",
    )
    register(app, services)
    resume.resume_uploads(services)
    return app


def register(app: App, services: Services) -> None:
    """Wire every listener and the one error handler."""
    commands.register(app, services)
    uploads.register(app, services)
    actions.register(app, services)
    modals.register(app, services, services.clock)
    app.error(_on_error)


def _on_error(
    error: Exception, body: dict[str, Any], respond: Respond | None
) -> BoltResponse | None:
    """Log the traceback; tell the person a reference, never the stack trace."""
    ref = secrets.token_hex(4)
    logger.error("listener failed (ref %s)", ref, exc_info=error)
    if respond is not None and body.get("response_url"):
        try:
            respond(text=wording.internal_error(ref))
        except SlackApiError as exc:
            logger.warning("could not report ref %s: %s", ref, exc.response.get("error"))
    return None
