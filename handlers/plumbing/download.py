"""Fetches an uploaded file's bytes from Slack, safely.

`url_private_download` needs `Authorization: Bearer <bot token>`. Without it (or when a redirect
drops it) Slack answers 200 with an HTML login page, so HTML is refused rather than parsed.
Redirects are followed by hand, only to Slack's own hosts (or the configured API host, which is
how tests point the app at a fake), so the token never travels anywhere else. The body is
streamed and refused as soon as it passes the size limit.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urljoin, urlsplit

import requests

from bot.config import Secret
from bot.errors import IntakeError

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3
TIMEOUT = (5.0, 30.0)  # connect, read (between bytes)
CHUNK = 64 * 1024


def _loopback(host: str) -> bool:
    """True for this machine's own names (a local Slack stand-in may use any of them)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DownloadError(IntakeError):
    """A file could not be fetched from Slack; the message says why and what to do."""


class Downloader:
    """Downloads Slack files with the bot token, within a size limit, from allowed hosts only."""

    def __init__(
        self,
        token: Secret,
        *,
        max_bytes: int,
        api_url: str = "https://slack.com/api/",
        session: requests.Session | None = None,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self._token = token
        self.max_bytes = max_bytes
        self.api_host = (urlsplit(api_url).hostname or "").lower()
        self._session = session if session is not None else requests.Session()
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Downloader(api_host={self.api_host!r}, max_bytes={self.max_bytes})"

    def allowed(self, url: str) -> bool:
        """True for https Slack hosts (and the configured API host) the token may be sent to."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host and (host == self.api_host or (_loopback(host) and _loopback(self.api_host))):
            return parts.scheme in ("http", "https")
        slack = host == "slack.com" or host.endswith(".slack.com")
        return parts.scheme == "https" and slack

    def fetch(self, url: str, *, size_hint: int | None = None) -> bytes:
        """The file's bytes; raises DownloadError naming the problem (never the token)."""
        if size_hint is not None and size_hint > self.max_bytes:
            raise DownloadError(self._too_big(size_hint))
        for _ in range(MAX_REDIRECTS + 1):
            if not self.allowed(url):
                host = urlsplit(url).hostname or url
                raise DownloadError(
                    f"the file is served from {host}, which is not Slack; "
                    "I do not send the bot token there"
                )
            response = self._get(url)
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                url = urljoin(url, location)
                continue
            return self._body(response)
        raise DownloadError(f"Slack redirected the download more than {MAX_REDIRECTS} times")

    def _get(self, url: str) -> requests.Response:
        try:
            return self._session.get(
                url,
                headers={"Authorization": f"Bearer {self._token.reveal()}"},
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout:
            raise DownloadError("Slack did not deliver the file in time; try again") from None
        except requests.RequestException as exc:
            raise DownloadError(f"the download failed ({type(exc).__name__}); try again") from None

    def _body(self, response: requests.Response) -> bytes:
        with response:
            if response.status_code != 200:
                raise DownloadError(
                    f"Slack answered HTTP {response.status_code} for the file; "
                    "check that the app is in the channel and has the files:read scope"
                )
            kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind == "text/html":
                raise DownloadError(
                    "Slack sent a login page instead of the file: the download was not "
                    "authorised (check the bot token and the files:read scope)"
                )
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                raise DownloadError(self._too_big(int(length)))
            return self._stream(response)

    def _stream(self, response: requests.Response) -> bytes:
        data = bytearray()
        try:
            for piece in response.iter_content(CHUNK):
                data += piece
                if len(data) > self.max_bytes:
                    raise DownloadError(self._too_big(None))
        except requests.RequestException as exc:
            raise DownloadError(
                f"the download broke off ({type(exc).__name__}); try again"
            ) from None
        return bytes(data)

    def _too_big(self, size: int | None) -> str:
        got = f"{size} bytes" if size is not None else "more than that"
        return (
            f"the file is {got}; the limit is {self.max_bytes} bytes "
            "(SMSBATCH_MAX_FILE_BYTES): split it into smaller files"
        )

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()
