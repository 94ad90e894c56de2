"""Fetch and parse forum threads into :class:`~scrapers.records.Post` records."""
__version__ = "0.1.0"

from scrapers.records import POST_FIELDS, Page, ParseResult, Post

__all__ = ["__version__", "Page", "ParseResult", "Post", "POST_FIELDS"]
