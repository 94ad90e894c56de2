"""Errors of the scrapers package. The CLI shows their message as one line."""
import functools


class ScraperError(Exception):
    """Base class for a problem with fetching or parsing a site, phrased for the user."""


class FetchError(ScraperError):
    """A page could not be fetched (network failure, retries exhausted, bad status)."""

    def __init__(self, message: str, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class AccessDeniedError(FetchError):
    """401/403: the page needs a login, is private, or the site refused this client."""


class NotFoundError(FetchError):
    """404/410: the page was removed or never existed."""


class RobotsDisallowedError(FetchError):
    """robots.txt forbids fetching this URL (use --ignore-robots to override)."""


class RobotsUnavailableError(RobotsDisallowedError):
    """robots.txt could not be read (network failure, 5xx or 429 after the retries): the host is
    taken as forbidding everything for this run, as RFC 9309 says (``--ignore-robots`` overrides)."""


class RedirectError(FetchError):
    """A redirect loop, more redirects than ``FetchConfig.max_redirects``, or a redirect to a
    scheme other than http(s)."""


class BodyTooLargeError(FetchError):
    """The response body is larger than the configured maximum."""


class BotWallError(ScraperError):
    """The site served a bot-wall/blocked shell page instead of content."""


class ParseError(ScraperError):
    """A page is malformed (truncated JSON, unexpected HTML) and yields no records."""


class TruncatedPageError(ParseError):
    """A page that ended early: cut off before its closing markup, shorter than its
    Content-Length, or holding fewer posts than it says. It is never stored as done; a crawl
    fetches it again (``FetchConfig.truncated_retries``) and then refuses it."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class CredentialsError(ScraperError):
    """Credentials needed for an API (e.g. Reddit OAuth) are missing or rejected."""


def malformed_page_is_parse_error(parse):
    """Decorate a site's ``parse(page)``: a field of an unexpected type or value deep in a record
    (a ``created_utc`` of "abc", a body that is a number) becomes one :class:`ParseError` naming the
    page, instead of whatever low-level exception the conversion raised."""
    @functools.wraps(parse)
    def guarded(page):
        try:
            return parse(page)
        except ScraperError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError, OSError) as exc:
            site = parse.__module__.rsplit(".", 1)[-1]
            raise ParseError(f"{page.url}: a {site} record has a malformed field "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else exc!r})") from exc

    return guarded
