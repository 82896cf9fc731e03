"""The replication supervisor with the real `litestream` binary: started, restarted, stopped."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from bot.cli.replicate import Replicator, config_text, litestream_env, redact_url
from bot.store.db import Store
from tests.test_system_blackbox import wait


def test_litestream_is_restarted_when_it_dies_and_stopped_with_the_app(tmp_path: Path) -> None:
    """A killed litestream is started again (counted); stop() ends it and removes the config."""
    store = Store.open(tmp_path / "app.db")
    replicator = Replicator(store.path, (tmp_path / "replica").as_uri(), first_pause=0.1)
    replicator.start()
    try:
        first = wait(lambda: replicator.pid, 10, "litestream to start")
        os.kill(first, signal.SIGKILL)
        second = wait(
            lambda: replicator.pid not in (None, first) and replicator.pid, 10, "a restart"
        )
        assert replicator.restarts == 1 and second != first
        wait(lambda: list((tmp_path / "replica").rglob("*.ltx")), 10, "the first sync")
    finally:
        replicator.stop()
        store.close()
    assert not replicator.running and not replicator.config_path.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)


def test_a_password_in_the_replica_url_never_reaches_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """sftp://user:PASSWORD@host: hidden in repr, in our lines and in litestream's own, whose
    failure to connect is logged as an error."""
    url = "sftp://backup:S3cret-pw-9x@127.0.0.1:1/smsbatch"
    assert redact_url(url) == "sftp://backup:********@127.0.0.1:1/smsbatch"
    assert redact_url("s3://bucket/path") == "s3://bucket/path"
    assert url in config_text(tmp_path / "app.db", url)  # only in the private config file
    store = Store.open(tmp_path / "app.db")
    caplog.set_level(logging.INFO)
    replicator = Replicator(store.path, url, first_pause=60)
    replicator.start()
    try:
        wait(lambda: replicator.restarts == 1, 10, "litestream to fail on the unreachable host")
        assert "S3cret-pw-9x" not in repr(replicator)
    finally:
        replicator.stop()
        store.close()
    assert "S3cret-pw-9x" not in caplog.text
    assert "sftp://backup:********@127.0.0.1:1/smsbatch" in caplog.text
    errors = [r for r in caplog.records if r.name == "litestream" and r.levelno == logging.ERROR]
    assert errors and "connection refused" in errors[0].getMessage()


def test_replica_credentials_written_in_dotenv_reach_litestream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.env` credential variables join the child's environment; the real environment wins;
    the app's own settings (tokens, the EAPI password) reach it from neither."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-fake")
    monkeypatch.setenv("AWS_PROFILE", "backups")
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "LITESTREAM_ACCESS_KEY_ID=from-dotenv\nAWS_REGION=eu-west-2\nPATH=/nowhere\n"
        "EAPI_PASSWORD=x\n"
    )
    env = litestream_env(dotenv)
    assert env["LITESTREAM_ACCESS_KEY_ID"] == "from-dotenv" and env["AWS_REGION"] == "eu-west-2"
    assert env["PATH"] == os.environ["PATH"] and env["AWS_PROFILE"] == "backups"
    assert "EAPI_PASSWORD" not in env and "SLACK_BOT_TOKEN" not in env
