"""Downloading uploads from Slack: bot token, allowed hosts only, size limit, no login pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.config import Secret
from handlers.plumbing.download import Downloader, DownloadError
from tests.fake_slack import FakeSlack, running_fake_slack

CSV = b"msisdn,message\n447911123401,Hello\n"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    """A fake Slack file server."""
    with running_fake_slack() as server:
        yield server


def downloader(fake: FakeSlack, *, token: str | None = None, max_bytes: int = 1000) -> Downloader:
    """A Downloader for the fake, as the app builds it from SLACK_API_URL."""
    return Downloader(Secret(token or fake.token), max_bytes=max_bytes, api_url=fake.api_url)


def test_the_file_is_fetched_with_the_bot_token(fake: FakeSlack) -> None:
    """With the right bearer token the bytes come back unchanged."""
    url = fake.full_file_object(fake.add_file("a.csv", CSV))["url_private_download"]
    assert downloader(fake).fetch(url) == CSV
    assert fake.requests[-1].headers["authorization"] == f"Bearer {fake.token}"


def test_a_login_page_is_refused_not_parsed(fake: FakeSlack) -> None:
    """Slack's 200 HTML login page (wrong or missing token) is a clear refusal."""
    url = fake.full_file_object(fake.add_file("a.csv", CSV))["url_private_download"]
    with pytest.raises(DownloadError, match="Slack sent a login page instead of the file"):
        downloader(fake, token="xoxb-wrong").fetch(url)


def test_a_file_over_the_limit_is_refused_naming_the_limit(fake: FakeSlack) -> None:
    """Content-Length (or the file's size) over SMSBATCH_MAX_FILE_BYTES stops the download."""
    url = fake.full_file_object(fake.add_file("a.csv", b"x" * 2000))["url_private_download"]
    with pytest.raises(DownloadError, match=r"limit is 1000 bytes \(SMSBATCH_MAX_FILE_BYTES\)"):
        downloader(fake).fetch(url)
    before = len(fake.requests)
    with pytest.raises(DownloadError, match="2000 bytes"):
        downloader(fake).fetch(url, size_hint=2000)
    assert len(fake.requests) == before  # refused before asking


def test_redirects_are_followed_only_within_the_allowed_hosts(fake: FakeSlack) -> None:
    """A redirect on the same host is followed; one to another host never gets the token."""
    url = fake.full_file_object(fake.add_file("a.csv", CSV))["url_private_download"]
    fake.redirects["/files-pri/moved"] = url
    assert downloader(fake).fetch(f"{fake.url}/files-pri/moved") == CSV
    elsewhere = url.replace("127.0.0.1", "files.example.test")
    fake.redirects["/files-pri/away"] = elsewhere
    before = len(fake.requests)
    with pytest.raises(DownloadError, match="not Slack; I do not send the bot token there"):
        downloader(fake).fetch(f"{fake.url}/files-pri/away")
    assert len(fake.requests) == before + 1


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://files.slack.com/files-pri/T1-F1/download/a.csv", True),
        ("https://slack.com/x", True),
        ("http://files.slack.com/files-pri/T1-F1/a.csv", False),
        ("https://files.slack.com.evil.example/a.csv", False),
        ("https://evilslack.com/a.csv", False),
        ("https://slack-files.com/a.csv", False),
    ],
)
def test_only_https_slack_hosts_get_the_token(url: str, allowed: bool) -> None:
    """The host check accepts *.slack.com over https and nothing that merely looks like it."""
    assert Downloader(Secret("xoxb-t"), max_bytes=10).allowed(url) is allowed


def test_the_token_never_appears_in_errors_or_repr(fake: FakeSlack) -> None:
    """Refusals and the downloader's repr never show the bot token."""
    d = downloader(fake)
    assert fake.token not in repr(d)
    with pytest.raises(DownloadError) as caught:
        d.fetch("http://127.0.0.1:9/files-pri/x")  # nothing listens on the discard port
    assert fake.token not in str(caught.value)


@pytest.mark.parametrize(
    ("api_url", "url", "allowed"),
    [
        ("http://127.0.0.1:9000/api/", "http://127.0.0.1:9001/files/a.csv", True),
        ("http://localhost:9000/api/", "http://127.0.0.1:9001/files/a.csv", True),
        ("http://127.0.0.1:9000/api/", "http://[::1]:9001/files/a.csv", True),
        ("http://127.0.0.1:9000/api/", "http://files.example.test/a.csv", False),
        ("https://slack.com/api/", "http://127.0.0.1:9001/files/a.csv", False),
    ],
)
def test_a_local_slack_stand_in_may_serve_files_from_any_local_address(
    api_url: str, url: str, allowed: bool
) -> None:
    """With a loopback SLACK_API_URL, files on any loopback address get the token; else not."""
    assert Downloader(Secret("xoxb-t"), max_bytes=10, api_url=api_url).allowed(url) is allowed
