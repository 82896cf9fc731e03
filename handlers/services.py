"""What the listeners are given: `Services`, and `SlackSide`, which builds its Slack-facing parts.

`SlackSide` builds the parts that must exist before the `BatchService` (the notifier and the
approver check, which the service is given); `SlackSide.bind(service)` then completes the
bundle. The composition root (bot.cli.run) and the scenario tests use the same two steps.
Listeners import `Services` from here, never the app factory, so no import circle forms.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from slack_sdk import WebClient

from bot.config import Settings
from bot.consent import ConsentService
from bot.home import delivery_by_batch
from bot.service import BatchService
from handlers.plumbing.approvers import ApproverDirectory
from handlers.plumbing.cards import BalanceCache, Cards
from handlers.plumbing.download import Downloader
from handlers.plumbing.home import HomeSources, HomeTabs
from handlers.plumbing.jobs import Jobs
from handlers.plumbing.notifier import MIN_EDIT_INTERVAL, SlackNotifier
from handlers.plumbing.slackio import SlackIO


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
    home: HomeTabs
    clock: Callable[[], float] = time.time
    consent: ConsentService | None = None  # the suppression list (`/smsbatch optout`)

    def close(self) -> None:
        """Finish queued Slack work, flush pending card edits, and close the download session."""
        self.jobs.shutdown(wait=True)
        self.notifier.stop()
        self.home.stop()
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
        # Delivery counts and the suppression list's size for the Home tab: `bind` reads them
        # from the service and the consent service unless set here first (tests do).
        self.home_sources = HomeSources()

    def bind(
        self, batches: BatchService, *, simulated: bool, consent: ConsentService | None = None
    ) -> Services:
        """Complete the bundle with the service and start the notifier."""
        cards = Cards(
            batches,
            self.io,
            self.balance,
            approvers=self.settings.approvers,
            self_approval=self.settings.self_approval,
        )
        self.notifier.bind(cards)
        sources = HomeSources(
            delivery=self.home_sources.delivery or delivery_by_batch(batches.delivery_counts),
            suppressed=self.home_sources.suppressed or (consent.size if consent else None),
        )
        home = HomeTabs(batches, self.io, self.balance, self.jobs, sources=sources)
        cards.on_change(home.changed)
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
            consent=consent,
            home=home,
        )
