"""The one error tree of smsbatch.

    SmsbatchError                 anything this project raises on purpose
     ├── ConfigError              configuration missing or malformed (all problems at once)
     ├── IntakeError              an upload that cannot be read as CSV at all (bot.intake.plan)
     ├── EapiError                the EAPI answered something we cannot use (bot.eapi.client)
     │    └── EapiResponseError   a body that is not `code|description[|batch_id]`
     └── StoreError               the database refused or does not hold what was asked (bot.store)
          ├── BatchNotFound
          └── TransitionRefused   a state change lost to an earlier decision

Modules define their specific subclasses next to the code that raises them; every message says
what the user or operator can do about it, and never contains a secret.
"""

from __future__ import annotations


class SmsbatchError(Exception):
    """Base class of every error smsbatch raises on purpose."""


class ConfigError(SmsbatchError):
    """The configuration is incomplete or malformed; the message lists every problem at once."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("configuration: " + "; ".join(self.problems))


class IntakeError(SmsbatchError):
    """An upload that cannot be read as CSV at all (binary, HTML, over a limit, no columns)."""


class EapiError(SmsbatchError):
    """The EAPI could not be asked, or answered something we cannot use."""


class EapiResponseError(EapiError):
    """A body that is not `status_code|status_description[|batch_id]` (first 200 chars quoted)."""


class StoreError(SmsbatchError):
    """The database refused an operation or does not hold what was asked."""


class BatchNotFound(StoreError):
    """No batch has that id."""


class TransitionRefused(StoreError):
    """A state change lost: the batch was already decided (the message says by whom, and when)."""
