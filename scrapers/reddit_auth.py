"""Reddit OAuth for script apps: credentials from the environment or praw.ini, a token from
``www.reddit.com/api/v1/access_token``, requests to ``oauth.reddit.com``.

Environment: REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET, REDDIT_USERNAME, REDDIT_PASSWORD.
praw.ini (as PRAW reads it: ./praw.ini, $XDG_CONFIG_HOME/praw.ini or ~/.config/praw.ini):
section ``[DEFAULT]`` or a named site, keys client_id, client_secret, username, password.
"""
from __future__ import annotations

import configparser
import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping

from scrapers.errors import CredentialsError, FetchError

log = logging.getLogger(__name__)

TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
OAUTH_BASE = "https://oauth.reddit.com"
ENV_KEYS = {"client_id": "REDDIT_CLIENT_ID", "client_secret": "REDDIT_CLIENT_SECRET",
            "username": "REDDIT_USERNAME", "password": "REDDIT_PASSWORD"}


def praw_ini_paths() -> list[Path]:
    xdg = os.environ.get("XDG_CONFIG_HOME")
    paths = [Path("praw.ini")]
    if xdg:
        paths.append(Path(xdg) / "praw.ini")
    paths.append(Path.home() / ".config" / "praw.ini")
    return paths


def load_credentials(env: Mapping[str, str] | None = None, ini_paths: list[Path] | None = None,
                     site: str | None = None) -> dict[str, str] | None:
    """Script-app credentials, environment first, then praw.ini; None when incomplete."""
    env = os.environ if env is None else env
    creds = {k: env.get(v, "") for k, v in ENV_KEYS.items()}
    if all(creds.values()):
        return creds
    site = site or env.get("praw_site") or "DEFAULT"
    for path in ini_paths if ini_paths is not None else praw_ini_paths():
        if not path.is_file():
            continue
        parser = configparser.ConfigParser()
        parser.read(path)
        section = parser[site] if site in parser else parser["DEFAULT"]
        from_ini = {k: creds[k] or section.get(k, "") for k in ENV_KEYS}
        if all(from_ini.values()):
            log.info("using Reddit credentials from %s [%s]", path, site)
            return from_ini
    return None


def missing_credentials_hint(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    missing = [v for v in ENV_KEYS.values() if not env.get(v)]
    return ("Reddit has ended anonymous .json access; create a 'script' app at "
            "https://www.reddit.com/prefs/apps and set " + ", ".join(missing or ENV_KEYS.values()) +
            " (or a praw.ini with client_id, client_secret, username, password)")


def login(client: Any, creds: dict[str, str] | None = None, token_url: str = TOKEN_URL) -> str:
    """Get a bearer token (password grant) and attach it to ``client``; returns the token.

    Reddit's tokens last an hour (``expires_in``): the client logs in again a minute before the
    token expires and once when a request is refused with HTTP 401, so long crawls keep going."""
    creds = creds or load_credentials()
    if not creds:
        raise CredentialsError(f"no Reddit credentials found: {missing_credentials_hint()}")
    try:
        resp = client.session.post(
            token_url, auth=(creds["client_id"], creds["client_secret"]),
            data={"grant_type": "password", "username": creds["username"], "password": creds["password"]},
            timeout=client.config.timeout)
    except Exception as exc:  # requests' network errors
        raise FetchError(f"could not reach Reddit's token endpoint {token_url}: {exc}") from None
    try:
        payload = resp.json()
    except ValueError:
        payload = {}
    token = payload.get("access_token")
    if resp.status_code != 200 or not token:
        reason = payload.get("error") or f"HTTP {resp.status_code}"
        raise CredentialsError(f"Reddit rejected the OAuth credentials ({reason}): check REDDIT_CLIENT_ID, "
                               "REDDIT_CLIENT_SECRET, REDDIT_USERNAME and REDDIT_PASSWORD (the app must be a 'script' app)")
    client.auth_headers["Authorization"] = f"bearer {token}"
    client.stats["auth/token"] += 1
    try:
        lifetime = float(payload.get("expires_in", 3600))
    except (TypeError, ValueError):
        lifetime = 3600.0
    client.auth_expires_at = time.time() + lifetime
    client.auth_renew = lambda c: login(c, creds, token_url)
    return token
