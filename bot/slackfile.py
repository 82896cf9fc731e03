"""What of a Slack file object the database keeps, so an upload can be fetched again later.

Only what identifies and locates the file (id, name, type, size, the private links) is kept:
never a token. Slack's private links need the bot token in a header, not in the URL, but some
links carry a `t=xox…` parameter; such parameters are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

KEPT_KEYS = ("id", "name", "title", "filetype", "mimetype", "size", "mode", "file_access")
LINK_KEYS = ("url_private_download", "url_private")
_TOKEN = re.compile(r"xox[a-z]-", re.IGNORECASE)


def kept_file(file: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a Slack file object needed to fetch it again; links lose token parameters."""
    kept = {key: file[key] for key in KEPT_KEYS if file.get(key) is not None}
    for key in LINK_KEYS:
        link = file.get(key)
        if isinstance(link, str) and link:
            kept[key] = without_tokens(link)
    return kept


def without_tokens(url: str) -> str:
    """The URL without query parameters whose value is a Slack token, and without a fragment."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if not _TOKEN.match(value)]
    query = parts.query if len(kept) == len(pairs) else urlencode(kept)
    return urlunsplit(parts._replace(query=query, fragment=""))
