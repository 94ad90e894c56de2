"""Errors the CLI shows as one line, and the list of every package's user-facing errors."""
from __future__ import annotations


class CrowdpulseError(Exception):
    """A problem with the pipeline's input (config, paths, options), phrased for the user."""


class ConfigError(CrowdpulseError):
    """The run config is missing or malformed."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception classes whose message is a complete one-line answer to the user."""
    from crowdpulse.store import StoreError
    from market.errors import MarketError
    from models.errors import ModelError
    from scrapers.errors import ScraperError
    from sentiment.errors import SentimentError

    return (CrowdpulseError, StoreError, ScraperError, ModelError, MarketError, SentimentError)
