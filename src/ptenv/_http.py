"""The one HTTP seam: every request ptenv itself makes (index pages, flat listings) goes here.

Imported only where a request is made, so `ptenv --help` and `ptenv doctor` never load
urllib.request, http.client or ssl. Errors come back as HttpError with the status (or None
when the server could not be reached) and a reason for people.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Page:
    url: str  # after redirects
    content_type: str
    text: str


class HttpError(Exception):
    def __init__(self, url: str, status: int | None, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.status = status  # None: not reached at all
        self.reason = reason


def get_page(url: str, *, accept: str | None = None, timeout: float = TIMEOUT_S) -> Page:
    """GET one text page; HttpError on an HTTP error status or when unreachable."""
    headers = {"Accept": accept} if accept else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - schemes vetted by callers
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - as above
            return Page(
                url=response.geturl(),
                content_type=response.headers.get("Content-Type", ""),
                text=response.read().decode("utf-8", errors="replace"),
            )
    except urllib.error.HTTPError as error:
        raise HttpError(url, error.code, f"HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise HttpError(url, None, str(getattr(error, "reason", error))) from None
