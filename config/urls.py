"""Database URLs as they may be shown to a person, a log or Prefect: every password masked."""

from __future__ import annotations

import os
import re
from urllib.parse import quote, quote_plus, urlsplit

from sqlalchemy.engine import URL, make_url

MASK = "***"
# Query parameters that carry a secret: password=, passwd=, pwd=, sslpassword=, token=, ...
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|credential|api_?key", re.IGNORECASE)
# key=value pairs (a URL's query, a libpq keyword DSN) whose key says the value is secret; the
# value ends where a query parameter, a word or a quoted string would.
# The `key=` of a pair, the key a whole run of name characters: the look-behind starts it at the
# run's beginning only, which keeps the scan linear in the text's length on a huge hostile line.
_KEY = re.compile(r"(?<![\w.-])[\w.-]+\s*=\s*")
_VALUE = re.compile(r"[^&;\s'\"]*")
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|credential|api_?key", re.IGNORECASE)


def _mask_secret_pairs(text: str) -> str:
    """`text` with the value of every password=-like pair replaced by ***."""
    parts, position = [], 0
    while (key := _KEY.search(text, position)) is not None:
        if _SECRET_KEY.search(key[0]):
            parts.append(text[position : key.end()] + MASK)
            position = _VALUE.match(text, key.end()).end()  # type: ignore[union-attr]
        else:
            parts.append(text[position : key.end()])
            position = key.end()
    parts.append(text[position:])
    return "".join(parts)


def display_url(url: str | URL) -> str:
    """`url` with its password and every secret-looking query parameter replaced by ***.

    Never raises: a value that is not a URL at all (a typo, a half-pasted DSN) comes back with
    whatever follows `user:` up to the last `@` and every `password=`-like value masked.
    """
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - any unparseable value is shown masked, never raised on
        return _mask_unparsed(str(url))
    host = parsed.host
    if host and "@" in host:
        # An unencoded '@' in the password: the URL parser took the password's rest for the host.
        host = f"{MASK}@{host.rsplit('@', 1)[1]}"
    shown = parsed.set(host=host, query={}).render_as_string(hide_password=True)
    if parsed.query:
        shown += "?" + "&".join(
            f"{quote_plus(key)}={MASK if _SECRET_KEY.search(key) else quote_plus(value)}"
            for key in sorted(parsed.query)
            for value in _values(parsed.query[key])
        )
    return shown


def url_secrets(url: str | URL | None) -> list[str]:
    """The secrets in `url` (password, secret query values), raw and URL-encoded, longest first;
    for scrubbing texts that may repeat them, such as a database driver's error message."""
    if not url:
        return []
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - nothing parseable, nothing to look for beyond the value itself
        return [str(url)]
    found = [parsed.password or ""]
    if parsed.host and "@" in parsed.host:
        found.append(parsed.host.rsplit("@", 1)[0])
    found += [
        value for key in parsed.query if _SECRET_KEY.search(key) for value in _values(parsed.query[key])
    ]
    variants = {
        form for secret in found if secret for form in (secret, quote(secret, safe=""), quote_plus(secret))
    }
    return sorted(variants, key=len, reverse=True)


# The database URL of this process's command (cli.console.read_settings puts it there).
DATABASE_URL_VARIABLE = "BASKETS_DATABASE_URL"


def without_secrets(text: str) -> str:
    """`text` with the secrets of this process's database URL (DATABASE_URL_VARIABLE) masked."""
    return hide_url_secrets(text, os.environ.get(DATABASE_URL_VARIABLE))


def hide_url_secrets(text: str, url: str | URL | None) -> str:
    """`text` with every secret of `url` replaced by ***, and any password=-like value masked."""
    for secret in url_secrets(url):
        text = text.replace(secret, MASK)
    return _mask_secret_pairs(text)


def _values(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _mask_unparsed(text: str) -> str:
    head, separator, rest = text.partition("://")
    if not separator:
        head, rest = "", text
    userinfo, at, after = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:{MASK}@{after}"
    return _mask_secret_pairs(f"{head}{separator}{rest}")


def is_web_url(url: str) -> bool:
    """Whether `url` is an http or https URL with a host (and no spaces or control characters)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises ValueError
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and url.isprintable() and " " not in url


def display_web_url(url: str) -> str:
    """An HTTP URL (webhook, dead-man's switch) as logs and messages may show it: scheme, host
    and port only; its user, path and query often are the secret (a check's UUID, a token)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    shown = f"{parts.scheme}://{host}{f':{port}' if port else ''}"
    return shown + ("/…" if parts.path not in ("", "/") or parts.query else "")
