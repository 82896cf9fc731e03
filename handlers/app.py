"""The Bolt app factory: `create_app(settings, services, *, client=None)`, with no import-time work.

It registers every listener (`handlers.listeners`) around the `Services` bundle
(`handlers.services`) and resumes the uploads a stopped process left unanswered.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from slack_bolt import App, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from handlers.builders import wording
from handlers.listeners import actions, commands, home, modals, resume, uploads
from handlers.services import Services

logger = logging.getLogger(__name__)


def create_app(settings: Settings, services: Services, *, client: WebClient | None = None) -> App:
    """The Bolt app with every listener registered (calls auth.test once, like any Bolt app).

    Once Slack accepted the token, uploads the last process claimed but never answered are
    queued on the job pool again (`handlers.listeners.resume`).
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
    home.register(app, services)
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
