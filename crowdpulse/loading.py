"""Load saved pages (files on disk) into the store through the site parsers."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from crowdpulse.scrape import parse_file
from crowdpulse.store import Store, UpsertCount


def load_files(store: Store, site: str, files: Iterable[str | Path]) -> UpsertCount:
    """Parse each file with ``site``'s parser (or ``auto``) and upsert its posts, one transaction a file."""
    inserted = updated = repaired = 0
    for path in files:
        got = store.upsert_posts(parse_file(site, path))
        inserted += got.inserted
        updated += got.updated
        repaired += got.repaired
    return UpsertCount(inserted, updated, repaired)
