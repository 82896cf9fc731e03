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
