"""`/smsbatch optout add|remove|list|import`: the suppression list from Slack (on the job pool).

Anyone who may use the command may add numbers; only approvers may remove them
(`bot.consent.ConsentService` decides and audits). A short list is answered to the user alone;
a long one is shared as a CSV file in the channel. `import` takes CSV text pasted after the word
and adds its number column, as `smsbatch-bot optout import` does with a file.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from slack_bolt import Respond

from bot.consent import ConsentService
from bot.errors import IntakeError
from bot.store.audit import csv_text, utc_iso
from handlers.builders import wording

if TYPE_CHECKING:
    from handlers.services import Services

_WORD = re.compile(r"\s+")  # the action ends at the first space or line break
_SEPARATORS = re.compile(r"[,;\n]+")
SHOWN_INLINE = 20  # entries listed in the reply; more go to a CSV file
PASTED = "pasted in Slack"  # the evidence of an import pasted after the command


def optout_command(
    services: Services, text: str, user: str, channel: str, respond: Respond
) -> None:
    """Add, remove or list, as `text` (the words after `optout`) asks."""
    consent = services.consent
    if consent is None:
        respond(text=wording.OPTOUT_UNAVAILABLE)
        return
    action, _, rest = _WORD.sub(" ", text.strip(), count=1).partition(" ")
    # Numbers are written with spaces (`+44 7911 123402`): several are separated by commas,
    # semicolons or new lines.
    numbers = [n.strip() for n in _SEPARATORS.split(rest) if n.strip()]
    action = action.lower()
    if action == "add" and numbers:
        change = consent.add(numbers, user, channel_id=channel)
        respond(text=wording.optout_changed(change, "add"))
    elif action == "remove" and numbers:
        change = consent.remove(numbers, user, channel_id=channel)
        respond(text=wording.optout_changed(change, "remove"))
    elif action == "list" and not numbers:
        _list(services, channel, respond)
    elif action == "import" and numbers:
        _import(consent, rest, user, channel, respond)
    else:
        respond(text=wording.OPTOUT_USAGE)


def _import(consent: ConsentService, text: str, user: str, channel: str, respond: Respond) -> None:
    """Pasted CSV text (a number column, e.g. an export): every number, source `import`."""
    try:
        change = consent.import_file(text.encode("utf-8"), user, PASTED, channel_id=channel)
    except IntakeError as exc:
        respond(text=wording.optout_not_imported(str(exc)))
        return
    respond(text=wording.optout_changed(change, "add"))


def _list(services: Services, channel: str, respond: Respond) -> None:
    assert services.consent is not None
    entries = services.consent.entries()
    if len(entries) <= SHOWN_INLINE:
        respond(text=wording.optout_list(entries))
        return
    header = ("msisdn", "source", "added_by", "added_at", "evidence")
    rows = (
        (e.msisdn, e.source.value, e.added_by, utc_iso(e.added_at), e.evidence) for e in entries
    )
    data = csv_text(header, rows).encode("utf-8-sig")
    services.io.upload(
        channel, None, data, "suppression-list.csv", wording.optout_file(len(entries))
    )
    respond(text=wording.optout_file(len(entries)))
