"""Errors of the scrapers package. The CLI shows their message as one line."""


class ScraperError(Exception):
    """Base class for a problem with fetching or parsing a site, phrased for the user."""
