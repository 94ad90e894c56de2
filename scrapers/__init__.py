"""Fetch and parse forum threads into :class:`~scrapers.records.Post` records."""
from scrapers.records import POST_FIELDS, Page, ParseResult, Post

__all__ = ["Page", "ParseResult", "Post", "POST_FIELDS"]
