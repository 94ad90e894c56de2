"""Errors of the market package. The CLI shows their message as one line."""


class MarketError(Exception):
    """Base class for a problem with prices, calendars or statistics, phrased for the user."""


class PriceDataError(MarketError):
    """Prices could not be loaded: a missing file, unreadable columns, or no data from the provider.

    ``reason`` is what went wrong; the message adds ``hint`` (what the user can do instead) when
    given, so a caller that already does it can show the reason alone.
    """

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{reason}; {hint}" if hint else reason)
        self.reason = reason


class StatisticsError(MarketError):
    """A statistic cannot be computed on the data given (too few sessions, bad parameters)."""
