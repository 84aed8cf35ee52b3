"""Prefect's REST API as a command calls it without loading Prefect (flows.recorded_run, decision 0024).

The requests are those of Prefect's own client: httpx, `PREFECT_API_AUTH_STRING` as Basic
authentication, else `PREFECT_API_KEY` as a Bearer token, `PREFECT_API_TLS_INSECURE_SKIP_VERIFY`
and `PREFECT_API_SSL_CERT_FILE`, each read from the environment or the active Prefect profile
(flows.runner.prefect_setting). Any call that gets no JSON answer is PrefectApiUnavailable: one
line naming the API URL and what to do (exit 1).
"""

from __future__ import annotations

import base64
import ssl
from typing import TYPE_CHECKING, Any

from baskets.errors import BadInput, BasketsError
from config.urls import display_web_url

if TYPE_CHECKING:
    import httpx

# Seconds an API call may take (connecting included) before the server counts as not answering.
API_TIMEOUT_SECONDS = 10.0
_SETTINGS_HINT = (
    "start the server or correct PREFECT_API_URL / PREFECT_API_KEY, or unset PREFECT_API_URL to run "
    "without one"
)


class PrefectApiUnavailable(BasketsError):
    """The Prefect API did not answer, or answered an error, before the run's work began (exit 1);
    `problem` says what happened ("does not answer (...)", "answered HTTP 500")."""

    def __init__(self, message: str, *, api_url: str, problem: str) -> None:
        super().__init__(message)
        self.api_url = api_url
        self.problem = problem


def _setting(name: str) -> str:
    from flows.runner import prefect_setting

    return prefect_setting(name) or ""


def _header_value(name: str, value: str) -> str:
    """A credential as it may go into an HTTP header: printable ASCII only (a pasted key with a
    newline would otherwise split the request), else BadInput naming the setting."""
    if not all(" " <= character <= "~" for character in value):
        raise BadInput(
            f"{name}: has control or non-ASCII characters (expected the key exactly as Prefect shows it, "
            "on one line)"
        )
    return value


class PrefectApi:
    """Prefect's REST API at PREFECT_API_URL, with Prefect's client's credentials and TLS settings."""

    def __init__(self, url: str, *, flow: str) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.flow = flow
        headers = {"User-Agent": "basket-maintenance"}
        if auth := _setting("PREFECT_API_AUTH_STRING"):
            token = base64.b64encode(_header_value("PREFECT_API_AUTH_STRING", auth).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif key := _setting("PREFECT_API_KEY"):
            headers["Authorization"] = f"Bearer {_header_value('PREFECT_API_KEY', key)}"
        self.client = httpx.Client(headers=headers, timeout=API_TIMEOUT_SECONDS, verify=_verify())

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON answer of `method` `path`; PrefectApiUnavailable (one line) when there is none."""
        import httpx

        try:
            response = self.client.request(method, f"{self.url}/{path.lstrip('/')}", json=body)
        except (httpx.HTTPError, OSError, ValueError) as error:
            raise self.unavailable(
                f"does not answer ({type(error).__name__}: {one_line(str(error))})"
            ) from None
        if response.status_code >= 400:
            raise self.unavailable(f"answered HTTP {response.status_code}{_detail(response)}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise self.unavailable(
                f"answered HTTP {response.status_code} with something that is not JSON"
            ) from None

    def unavailable(self, problem: str) -> PrefectApiUnavailable:
        return PrefectApiUnavailable(
            f"the Prefect API at {self.shown_url} (PREFECT_API_URL) {problem}: "
            f"{self.flow} did not run ({_SETTINGS_HINT})",
            api_url=self.shown_url,
            problem=problem,
        )

    @property
    def shown_url(self) -> str:
        return _shown_url(self.url)

    def close(self) -> None:
        self.client.close()


def _verify() -> bool | ssl.SSLContext:
    """How the server's certificate is checked, as Prefect's client checks it."""
    if _setting("PREFECT_API_TLS_INSECURE_SKIP_VERIFY").lower() in ("1", "true", "yes"):
        return False
    if cert_file := _setting("PREFECT_API_SSL_CERT_FILE"):
        try:
            return ssl.create_default_context(cafile=cert_file)
        except (OSError, ssl.SSLError) as error:
            raise BadInput(
                f"PREFECT_API_SSL_CERT_FILE: {cert_file!r} is no readable certificate file "
                f"({type(error).__name__}; expected a PEM file of CA certificates)"
            ) from None
    return True


def _shown_url(url: str) -> str:
    """The API URL as a message may show it: without a user, password or query (display_web_url
    for anything that is not a plain http(s) URL)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return display_web_url(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return display_web_url(url)
    return one_line(f"{parts.scheme}://{parts.hostname}{port}{parts.path}")


def one_line(text: str, limit: int = 200) -> str:
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _detail(response: httpx.Response) -> str:
    """The server's own short reason, if its answer has one: `: Unauthorized`."""
    try:
        body = response.json()
    except ValueError:
        return ""
    reason = body.get("detail") or body.get("exception_message") if isinstance(body, dict) else None
    return f": {one_line(reason)}" if isinstance(reason, str) and reason else ""
