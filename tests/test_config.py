"""Configuration: every problem reported at once, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import SIMULATOR, VARIABLES, Secret, load_settings, settings_from_env
from bot.errors import ConfigError


def test_defaults_run_against_the_simulator() -> None:
    """With nothing set, the EAPI is the built-in simulator and the documented defaults hold."""
    settings = settings_from_env({})
    assert settings.eapi_url == SIMULATOR
    assert settings.simulated
    assert settings.chunk_size == 4000
    assert settings.max_parts == 3
    assert settings.default_country == "GB"
    assert settings.approvers == ()


def test_every_problem_is_reported_in_one_message() -> None:
    """Several malformed variables produce one error that names each of them."""
    with pytest.raises(ConfigError) as caught:
        settings_from_env(
            {
                "SMSBATCH_MAX_ROWS": "lots",
                "SMSBATCH_CHUNK_SIZE": "50000",
                "EAPI_USERNAME": "john",
                "SMSBATCH_APPROVERS": "U123,bob",
                "SMSBATCH_DEFAULT_COUNTRY": "XX",
            }
        )
    message = str(caught.value)
    assert "\n" not in message
    for name in (
        "SMSBATCH_MAX_ROWS",
        "SMSBATCH_CHUNK_SIZE",
        "EAPI_URL",
        "SMSBATCH_APPROVERS",
        "SMSBATCH_DEFAULT_COUNTRY",
    ):
        assert name in message
    assert len(caught.value.problems) == 5


def test_real_eapi_needs_username_and_password() -> None:
    """A real EAPI URL without credentials is refused, naming both variables."""
    with pytest.raises(ConfigError) as caught:
        settings_from_env({"EAPI_URL": "https://bulksms.vsms.net/eapi"})
    assert "EAPI_USERNAME" in str(caught.value)
    assert "EAPI_PASSWORD" in str(caught.value)


def test_secrets_never_show_in_repr_or_errors() -> None:
    """Tokens and the EAPI password are hidden in the settings' repr and in error messages."""
    env = {
        "EAPI_URL": "https://bulksms.vsms.net/eapi",
        "EAPI_USERNAME": "john",
        "EAPI_PASSWORD": "hunter2-very-secret",
        "SLACK_BOT_TOKEN": "xoxb-1234_secret_token",
        "SLACK_APP_TOKEN": "not-an-app-token-secret",
    }
    with pytest.raises(ConfigError) as caught:
        settings_from_env(env)
    assert "not-an-app-token-secret" not in str(caught.value)
    env["SLACK_APP_TOKEN"] = "xapp-1-secret-app"
    settings = settings_from_env(env)
    shown = repr(settings) + str(settings)
    for secret in ("hunter2-very-secret", "xoxb-1234_secret_token", "xapp-1-secret-app"):
        assert secret not in shown
    assert settings.eapi_password == Secret("hunter2-very-secret")
    assert settings.socket_mode


def test_http_mode_needs_bot_token_and_signing_secret() -> None:
    """The app itself (not the other commands) requires the Slack settings for its mode."""
    settings = settings_from_env({})
    with pytest.raises(ConfigError) as caught:
        settings.require_slack()
    assert "SLACK_BOT_TOKEN" in str(caught.value)
    assert "SLACK_SIGNING_SECRET" in str(caught.value)
    socket = settings_from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    socket.require_slack()


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    """A .env file supplies values; the real environment overrides them."""
    dotenv = tmp_path / ".env"
    dotenv.write_text('SMSBATCH_MAX_PARTS=5\nSMSBATCH_DEFAULT_COUNTRY="DE"\n')
    settings = load_settings({"SMSBATCH_MAX_PARTS": "4"}, dotenv=dotenv)
    assert settings.max_parts == 4
    assert settings.default_country == "DE"


def test_env_example_documents_every_variable() -> None:
    """`.env.example` names every variable the configuration reads."""
    example = (Path(__file__).parent.parent / ".env.example").read_text()
    for variable in VARIABLES:
        assert f"{variable.name}=" in example, variable.name


def test_commands_that_never_call_the_eapi_do_not_need_its_settings() -> None:
    """check, audit and health run with half-set EAPI variables; the app refuses them."""
    env = {"EAPI_USERNAME": "john", "SMSBATCH_MAX_PARTS": "4"}
    with pytest.raises(ConfigError):
        settings_from_env(env)
    settings = settings_from_env(env, check_eapi=False)
    assert settings.max_parts == 4
    assert settings.eapi_password is None
    with pytest.raises(ConfigError):
        settings_from_env({**env, "SMSBATCH_MAX_PARTS": "many"}, check_eapi=False)


def test_reports_inbox_push_replica_and_metrics_settings_are_read() -> None:
    """The settings of reports, replies, push, replication and metrics are parsed as documented."""
    settings = settings_from_env(
        {
            "SMSBATCH_REPORT_DELAYS": "30, 600,7200",
            "SMSBATCH_INBOX_POLL_SECONDS": "0",
            "SMSBATCH_REPLIES_CHANNEL": "C012ABCDEF",
            "SMSBATCH_PUSH_SECRET": "s3cret-push",
            "SMSBATCH_REPLICA_URL": "file:///var/backups/smsbatch",
            "SMSBATCH_METRICS_PORT": "9102",
        }
    )
    assert settings.report_delays == (30.0, 600.0, 7200.0)
    assert settings.inbox_poll_seconds == 0
    assert settings.replies_channel == "C012ABCDEF"
    assert settings.push_secret == Secret("s3cret-push")
    assert "s3cret-push" not in repr(settings)
    assert settings.replica_url == "file:///var/backups/smsbatch"
    assert settings.metrics_port == 9102


def test_their_defaults_poll_reports_for_72_hours_and_replies_every_2_minutes() -> None:
    """Unset: reports from 1 minute to 72 hours, replies every 2 minutes, nothing else on."""
    settings = settings_from_env({})
    assert settings.report_delays[0] == 60 and settings.report_delays[-1] == 72 * 3600
    assert settings.inbox_poll_seconds == 120
    assert (settings.replies_channel, settings.push_secret) == (None, None)
    assert (settings.replica_url, settings.metrics_port) == (None, None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMSBATCH_REPORT_DELAYS", "300,60"),
        ("SMSBATCH_REPORT_DELAYS", "soon"),
        ("SMSBATCH_REPORT_DELAYS", "0,60"),
        ("SMSBATCH_REPLIES_CHANNEL", "#general"),
        ("SMSBATCH_REPLICA_URL", "https://example.com/bucket"),
        ("SMSBATCH_METRICS_PORT", "99999"),
    ],
)
def test_malformed_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    """Each malformed value ends in one ConfigError that names its variable."""
    with pytest.raises(ConfigError, match=name):
        settings_from_env({name: value})
