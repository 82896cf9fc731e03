"""Configuration from the environment (and an optional `.env`), validated all at once.

Every variable of `interface.md` is declared once in `VARIABLES`; the README's table is checked
against that list by a test, so the two cannot drift.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.errors import ConfigError

SIMULATOR = "simulator"
README_HINT = "see the README, section 'Configuration'"


class Secret:
    """A secret string whose `repr` and `str` never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: its name, its default as documented, and what it means."""

    name: str
    default: str
    meaning: str


# 10 MiB, as interface.md fixes it. A typical file of SMSBATCH_MAX_ROWS rows (~17 MB) needs more:
# raise SMSBATCH_MAX_FILE_BYTES (e.g. 33554432) to accept one (the README says so).
DEFAULT_MAX_FILE_BYTES = 10_485_760

VARIABLES: tuple[Variable, ...] = (
    Variable("SLACK_BOT_TOKEN", "required", "bot token, `xoxb-…`"),
    Variable("SLACK_SIGNING_SECRET", "required in HTTP mode", "verifies every HTTP request"),
    Variable("SLACK_APP_TOKEN", "unset", "app-level token `xapp-…`; when set, Socket Mode"),
    Variable("SLACK_API_URL", "https://slack.com/api/", "base URL of the Slack Web API"),
    Variable("PORT", "3000", "HTTP mode listen port (`POST /slack/events`, `GET /healthz`)"),
    Variable("EAPI_URL", "simulator", "base of the EAPI; `simulator` runs the built-in one"),
    Variable("EAPI_USERNAME", "required unless simulator", "EAPI user name"),
    Variable("EAPI_PASSWORD", "required unless simulator", "EAPI password; never logged"),
    Variable("SMSBATCH_DB", "./smsbatch.db", "path of the SQLite database"),
    Variable("SMSBATCH_APPROVERS", "empty", "user IDs (`U…`) and user-group IDs (`S…`)"),
    Variable("SMSBATCH_SELF_APPROVAL", "0", "`1` lets the preparer approve their own batch"),
    Variable("SMSBATCH_DEFAULT_COUNTRY", "GB", "ISO region for national-format numbers"),
    Variable("SMSBATCH_MAX_ROWS", "100000", "data rows accepted in one batch"),
    Variable("SMSBATCH_MAX_FILE_BYTES", str(DEFAULT_MAX_FILE_BYTES), "size of an upload accepted"),
    Variable("SMSBATCH_MAX_PARTS", "3", "SMS parts one message may use"),
    Variable("SMSBATCH_CHUNK_SIZE", "4000", "messages per EAPI submission (at most 30000)"),
    Variable("SMSBATCH_PRICES", "1 credit a part", "path of a TOML or JSON price table"),
    Variable("SMSBATCH_RETRY_BASE_SECONDS", "2", "first backoff after a transient failure"),
    Variable("SMSBATCH_RETRY_CAP_SECONDS", "300", "longest single backoff"),
    Variable("SMSBATCH_RETRY_DEADLINE_SECONDS", "3600", "total time a submission is retried"),
    Variable("SMSBATCH_DEDUP_WINDOW_SECONDS", "7200", "after a crash, resend window"),
    Variable("SMSBATCH_PENDING_TTL_SECONDS", "86400", "how long a batch waits for approval"),
    Variable(
        "SMSBATCH_REPORT_DELAYS",
        "60,300,900,3600,10800,21600,43200,86400,172800,259200",
        "seconds after a submission at which delivery reports are fetched; after the last, "
        "pending becomes unknown",
    ),
    Variable("SMSBATCH_INBOX_POLL_SECONDS", "120", "how often replies are fetched; `0`: never"),
    Variable("SMSBATCH_REPLIES_CHANNEL", "unset", "channel ID for replies that answer no batch"),
    Variable(
        "SMSBATCH_PUSH_SECRET",
        "unset",
        "HTTP mode: `pass=` of BulkSMS's pushes to `/eapi/push/report` and `/eapi/push/reply`",
    ),
    Variable("SMSBATCH_REPLICA_URL", "unset", "Litestream replica URL: replicate while running"),
    Variable("SMSBATCH_METRICS_PORT", "unset", "Socket Mode: port of Prometheus `/metrics`"),
    Variable("SMSBATCH_LOG_FORMAT", "kv", "`kv` (key=value) or `json`"),
    Variable("SMSBATCH_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR"),
)

EAPI_MAX_CHUNK = 30_000
DEFAULT_REPORT_DELAYS: tuple[float, ...] = (
    60.0,  # 1 min: most handsets report within a minute
    300.0,
    900.0,
    3600.0,
    10_800.0,
    21_600.0,
    43_200.0,
    86_400.0,
    172_800.0,
    259_200.0,  # 72 h: past a message's usual validity period, nothing will change any more
)
REPLICA_SCHEMES = ("s3", "gcs", "abs", "sftp", "file", "webdav", "nats", "oss")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the process needs, validated; secrets wrapped in `Secret`."""

    slack_bot_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_app_token: Secret | None = None
    slack_api_url: str = "https://slack.com/api/"
    port: int = 3000
    eapi_url: str = SIMULATOR
    eapi_username: str | None = None
    eapi_password: Secret | None = None
    db_path: Path = Path("smsbatch.db")
    approvers: tuple[str, ...] = ()
    self_approval: bool = False
    default_country: str = "GB"
    max_rows: int = 100_000
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_parts: int = 3
    chunk_size: int = 4000
    prices_path: Path | None = None
    retry_base_seconds: float = 2.0
    retry_cap_seconds: float = 300.0
    retry_deadline_seconds: float = 3600.0
    dedup_window_seconds: float = 7200.0
    pending_ttl_seconds: float = 86400.0
    report_delays: tuple[float, ...] = DEFAULT_REPORT_DELAYS
    inbox_poll_seconds: float = 120.0
    replies_channel: str | None = None
    push_secret: Secret | None = None
    replica_url: str | None = None
    metrics_port: int | None = None
    log_format: str = "kv"
    log_level: str = "INFO"

    @property
    def simulated(self) -> bool:
        """True when nothing is really sent: the EAPI is the built-in simulator."""
        return self.eapi_url == SIMULATOR

    @property
    def socket_mode(self) -> bool:
        """True when the app connects over Socket Mode instead of listening for HTTP."""
        return self.slack_app_token is not None

    def require_slack(self) -> None:
        """Raise `ConfigError` naming every Slack setting the app itself still needs."""
        problems = []
        if self.slack_bot_token is None:
            problems.append(f"SLACK_BOT_TOKEN is missing ({README_HINT})")
        if not self.socket_mode and self.slack_signing_secret is None:
            problems.append(
                "SLACK_SIGNING_SECRET is missing: HTTP mode needs it "
                f"(or set SLACK_APP_TOKEN for Socket Mode; {README_HINT})"
            )
        if problems:
            raise ConfigError(problems)


class _Reader:
    """Reads typed values from a mapping, collecting every problem instead of stopping."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def secret(self, name: str, prefix: str | None = None) -> Secret | None:
        value = self.text(name)
        if value is None:
            return None
        if prefix and not value.startswith(prefix):
            self.problems.append(f"{name} must start with '{prefix}' (the value is not shown)")
        return Secret(value)

    def number(
        self,
        name: str,
        default: float,
        convert: Callable[[str], float],
        low: float,
        high: float | None = None,
    ) -> Any:
        raw = self.text(name)
        if raw is None:
            return default
        kind = "a whole number" if convert is int else "a number"
        try:
            value = convert(raw)
        except ValueError:
            self.problems.append(f"{name} must be {kind}, got {raw!r}")
            return default
        if value < low or (high is not None and value > high):
            bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            self.problems.append(f"{name} must be {bound}, got {raw!r}")
            return default
        return value

    def flag(self, name: str) -> bool:
        raw = self.text(name)
        if raw is None or raw in ("0", "false", "no"):
            return False
        if raw in ("1", "true", "yes"):
            return True
        self.problems.append(f"{name} must be 1 or 0, got {raw!r}")
        return False

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.upper() in (c.upper() for c in choices):
            return next(c for c in choices if c.upper() == raw.upper())
        self.problems.append(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return default


def _eapi(read: _Reader) -> tuple[str, str | None, Secret | None]:
    username = read.text("EAPI_USERNAME")
    password = read.secret("EAPI_PASSWORD")
    url = read.text("EAPI_URL") or (SIMULATOR if username is None else None)
    if url is None:
        read.problems.append(
            "EAPI_URL is missing: with EAPI_USERNAME set, name your BulkSMS site, e.g. "
            "https://bulksms.vsms.net/eapi"
        )
        return SIMULATOR, username, password
    if url != SIMULATOR:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            read.problems.append(f"EAPI_URL must be an http(s) URL or 'simulator', got {url!r}")
        if username is None:
            read.problems.append("EAPI_USERNAME is missing (required unless EAPI_URL=simulator)")
        if password is None:
            read.problems.append("EAPI_PASSWORD is missing (required unless EAPI_URL=simulator)")
    return url.rstrip("/"), username, password


def _approvers(read: _Reader) -> tuple[str, ...]:
    raw = read.text("SMSBATCH_APPROVERS") or ""
    ids = tuple(part.strip() for part in raw.split(",") if part.strip())
    bad = [i for i in ids if not (i[:1] in ("U", "W", "S") and i.isalnum() and i.isupper())]
    if bad:
        read.problems.append(
            "SMSBATCH_APPROVERS takes Slack user IDs (U…/W…) and user-group IDs (S…), "
            f"got {', '.join(repr(b) for b in bad)}"
        )
    return ids


def _country(read: _Reader) -> str:
    raw = (read.text("SMSBATCH_DEFAULT_COUNTRY") or "GB").upper()
    import phonenumbers  # local: keeps `import bot.config` cheap

    if raw not in phonenumbers.SUPPORTED_REGIONS:
        read.problems.append(
            f"SMSBATCH_DEFAULT_COUNTRY must be an ISO region such as GB or DE, got {raw!r}"
        )
        return "GB"
    return raw


def _prices(read: _Reader) -> Path | None:
    raw = read.text("SMSBATCH_PRICES")
    if raw is None:
        return None
    path = Path(raw)
    if not path.is_file():
        read.problems.append(f"SMSBATCH_PRICES names {raw!r}, which is not a readable file")
    return path


def _report_delays(read: _Reader) -> tuple[float, ...]:
    raw = read.text("SMSBATCH_REPORT_DELAYS")
    if raw is None:
        return DEFAULT_REPORT_DELAYS
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        delays = ()
    if not delays or any(d <= 0 for d in delays) or list(delays) != sorted(set(delays)):
        read.problems.append(
            "SMSBATCH_REPORT_DELAYS must be increasing positive seconds separated by commas, "
            f"e.g. 60,300,3600, got {raw!r}"
        )
        return DEFAULT_REPORT_DELAYS
    return delays


def _channel(read: _Reader, name: str) -> str | None:
    raw = read.text(name)
    if raw is not None and not (raw[:1] in ("C", "G", "D") and raw.isalnum() and raw.isupper()):
        read.problems.append(f"{name} takes a Slack channel ID such as C012ABCDEF, got {raw!r}")
        return None
    return raw


def _replica_url(read: _Reader) -> str | None:
    raw = read.text("SMSBATCH_REPLICA_URL")
    if raw is None:
        return None
    scheme = urlsplit(raw).scheme
    if scheme not in REPLICA_SCHEMES:
        read.problems.append(
            "SMSBATCH_REPLICA_URL must be a Litestream replica URL "
            f"({', '.join(s + '://' for s in REPLICA_SCHEMES)}), got a {scheme or 'bare'} URL"
        )
        return None
    return raw


def _optional_port(read: _Reader, name: str) -> int | None:
    if read.text(name) is None:
        return None
    port: int = read.number(name, 0, int, 1, 65535)
    return port or None


def settings_from_env(env: Mapping[str, str], *, check_eapi: bool = True) -> Settings:
    """Build `Settings` from a mapping, raising one `ConfigError` that lists every problem.

    With `check_eapi=False` (commands that never talk to the EAPI: check, audit, health,
    simulator) the EAPI variables are not required and the EAPI is taken as the simulator.
    """
    read = _Reader(env)
    if check_eapi:
        eapi_url, username, password = _eapi(read)
    else:
        eapi_url, username, password = SIMULATOR, read.text("EAPI_USERNAME"), None
    settings = Settings(
        slack_bot_token=read.secret("SLACK_BOT_TOKEN", "xoxb-"),
        slack_signing_secret=read.secret("SLACK_SIGNING_SECRET"),
        slack_app_token=read.secret("SLACK_APP_TOKEN", "xapp-"),
        slack_api_url=read.text("SLACK_API_URL") or "https://slack.com/api/",
        port=read.number("PORT", 3000, int, 0, 65535),
        eapi_url=eapi_url,
        eapi_username=username,
        eapi_password=password,
        db_path=Path(read.text("SMSBATCH_DB") or "smsbatch.db"),
        approvers=_approvers(read),
        self_approval=read.flag("SMSBATCH_SELF_APPROVAL"),
        default_country=_country(read),
        max_rows=read.number("SMSBATCH_MAX_ROWS", 100_000, int, 1),
        max_file_bytes=read.number("SMSBATCH_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES, int, 1),
        max_parts=read.number("SMSBATCH_MAX_PARTS", 3, int, 1, 255),
        chunk_size=read.number("SMSBATCH_CHUNK_SIZE", 4000, int, 1, EAPI_MAX_CHUNK),
        prices_path=_prices(read),
        retry_base_seconds=read.number("SMSBATCH_RETRY_BASE_SECONDS", 2.0, float, 0),
        retry_cap_seconds=read.number("SMSBATCH_RETRY_CAP_SECONDS", 300.0, float, 0),
        retry_deadline_seconds=read.number("SMSBATCH_RETRY_DEADLINE_SECONDS", 3600.0, float, 0),
        dedup_window_seconds=read.number("SMSBATCH_DEDUP_WINDOW_SECONDS", 7200.0, float, 0),
        pending_ttl_seconds=read.number("SMSBATCH_PENDING_TTL_SECONDS", 86400.0, float, 1),
        report_delays=_report_delays(read),
        inbox_poll_seconds=read.number("SMSBATCH_INBOX_POLL_SECONDS", 120.0, float, 0),
        replies_channel=_channel(read, "SMSBATCH_REPLIES_CHANNEL"),
        push_secret=read.secret("SMSBATCH_PUSH_SECRET"),
        replica_url=_replica_url(read),
        metrics_port=_optional_port(read, "SMSBATCH_METRICS_PORT"),
        log_format=read.choice("SMSBATCH_LOG_FORMAT", "kv", ("kv", "json")),
        log_level=read.choice("SMSBATCH_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
    )
    if read.problems:
        raise ConfigError(read.problems)
    return settings


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv: Path | None = None,
    *,
    check_eapi: bool = True,
) -> Settings:
    """Read `.env` (if present) under the real environment, which wins, and validate."""
    env: dict[str, str] = {}
    dotenv = Path(".env") if dotenv is None else dotenv
    if dotenv.is_file():
        from dotenv import dotenv_values

        env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    return settings_from_env(env, check_eapi=check_eapi)
