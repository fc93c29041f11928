"""What the sync and the async client share, with no I/O: the calls they make (a path, a
canonical body, how to read the answer, the fail-closed result), the headers, when to
retry and how long to wait, and how an answer becomes a result or a ClientError.

Retries (``retries`` at most, after the first attempt):
- an attempt that got no answer because the connection failed: it could not be made (a
  refused connection, a connect timeout), or the server closed or reset it before any
  answer. The wait doubles from ``backoff`` up to ``max_backoff``, each a random 50-100%
  of that (so clients that lost one server do not come back at once);
- a 503 with ``Retry-After: <seconds>`` (the server has no policy set loaded yet), after
  that many seconds, when they are at most ``max_retry_after``.
Nothing else is retried: not a deny, not a 4xx, not another 5xx, not a timeout waiting for
the answer (the server may still be deciding). A request retried after a reset may have
been decided once already: the decision log can hold it twice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
import orjson

from .cache import DecisionCache
from .errors import (
    ClientError,
    ConnectionFailed,
    MalformedAnswer,
    Timeout,
)
from .results import Decision, Plan, SearchPage, error_for_status

__all__ = ["Call", "Core", "Failure", "declared_length", "transport_failure"]

R = TypeVar("R")

MAX_ANSWER_BYTES = 64 << 20
_TRACEPARENT = re.compile(r"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}"
                          r"-[0-9a-f]{2}")
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")
_DELTA_SECONDS = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Call(Generic[R]):
    """One request: where it goes, its JSON body, how its 200 answer is read (the parsed
    JSON and the request id → the result), and the fail-closed result of an error.
    ``cached``: a single evaluation, which the client cache may answer."""

    path: str
    body: dict[str, Any]
    read: Callable[[Any, str], R]
    failed: Callable[[ClientError, str], R]
    cached: bool = False


@dataclass(frozen=True)
class Failure:
    """An attempt that got no usable answer: the error, and whether it may be retried."""

    error: ClientError
    retryable: bool


def transport_failure(e: httpx.TransportError, answered: bool) -> Failure:
    """The failure an httpx transport error stands for. ``answered``: the answer's status
    line had arrived (a break then is never retried)."""
    if answered:
        return Failure(ConnectionFailed(f"the connection broke during the answer: {e!r}"),
                       False)
    if isinstance(e, httpx.ConnectTimeout):
        return Failure(Timeout(f"could not connect in time: {e!r}"), True)
    if isinstance(e, httpx.TimeoutException):
        return Failure(Timeout(f"no answer in time: {e!r}"), False)
    if isinstance(e, httpx.ConnectError):
        return Failure(ConnectionFailed(f"could not connect: {e!r}"), True)
    if isinstance(e, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return Failure(ConnectionFailed(f"the connection closed before any answer: {e!r}"),
                       True)
    return Failure(ConnectionFailed(f"no answer: {e!r}"), False)


class Core:
    """The configuration and the I/O-free steps of a client."""

    def __init__(
        self,
        *,
        api_key: str | None,
        bearer_token: str | Callable[[], str] | None,
        retries: int,
        backoff: float,
        max_backoff: float,
        max_retry_after: float,
        raise_errors: bool,
        cache_ttl: float,
        cache_size: int,
        clock: Callable[[], float],
        random: Callable[[], float],
        max_answer_bytes: int,
    ) -> None:
        if api_key is not None and bearer_token is not None:
            raise ValueError("give api_key or bearer_token, not both")
        if retries < 0 or backoff < 0 or max_backoff < 0 or max_retry_after < 0:
            raise ValueError("retries and waits must not be negative")
        for name, value in (("api_key", api_key), ("bearer_token", bearer_token)):
            if isinstance(value, str):
                _header_value(value, name)
        self.api_key = api_key
        self.bearer_token = bearer_token
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.raise_errors = raise_errors
        self.cache = DecisionCache(cache_ttl, cache_size, clock) if cache_ttl > 0 else None
        self.random = random
        self.max_answer_bytes = max_answer_bytes

    # --- before the call --------------------------------------------------------------------

    def raising(self, raise_errors: bool | None) -> bool:
        return self.raise_errors if raise_errors is None else raise_errors

    def headers(
        self, request_id: str | None, traceparent: str | None
    ) -> tuple[str, dict[str, str]]:
        """The request id (the caller's, else a new one) and the call's headers. A request
        id or traceparent that is not a valid header value is a ValueError."""
        if request_id is None:
            request_id = uuid.uuid4().hex
        elif not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
            raise ValueError("request_id must be 1 to 200 visible ASCII characters")
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "X-Request-ID": request_id}
        if traceparent is not None:
            if not isinstance(traceparent, str) or not _TRACEPARENT.fullmatch(traceparent):
                raise ValueError(
                    "traceparent must be a W3C traceparent: version-traceid-parentid-flags "
                    "in lowercase hex, the ids not all zeros"
                )
            headers["traceparent"] = traceparent
        if self.api_key is not None:
            headers["X-API-Key"] = self.api_key
        elif self.bearer_token is not None:
            token = self.bearer_token
            if not isinstance(token, str):
                token = _header_value(token(), "bearer_token()")
            headers["Authorization"] = f"Bearer {token}"
        return request_id, headers

    def cached(self, call: Call[R], content: bytes) -> Decision | None:
        """The cached decision of a call whose canonical body is ``content``, if any."""
        if self.cache is None or not call.cached:
            return None
        return self.cache.get(content)

    # --- retries ----------------------------------------------------------------------------

    def backoff_delay(self, attempt: int) -> float:
        """The wait before retry ``attempt`` (0 for the first) after a connection failure."""
        base = min(self.max_backoff, self.backoff * (2 ** min(attempt, 30)))
        return base * (0.5 + self.random() / 2)

    def retry_after(self, status: int, headers: httpx.Headers) -> float | None:
        """The wait before retrying an answer: only a 503 with a Retry-After of seconds,
        at most ``max_retry_after``; None: not retried."""
        if status != 503:
            return None
        value = headers.get("retry-after", "").strip()
        if not _DELTA_SECONDS.fullmatch(value):
            return None
        seconds = float(value)
        return seconds if seconds <= self.max_retry_after else None

    # --- after the call ---------------------------------------------------------------------

    def finish(self, call: Call[R], sent: bytes, status: int, content: bytes,
               request_id: str, raising: bool) -> R:
        """The result of an answer (``content``) to the body ``sent``, or the ClientError it
        stands for. With ``raising``, a batch item the server refused raises too."""
        try:
            answer = orjson.loads(content)
        except orjson.JSONDecodeError:
            answer = _NOT_JSON
        if status != 200:
            raise error_for_status(status, answer)
        if answer is _NOT_JSON:
            what = "an empty answer" if not content.strip() else "the answer is not JSON"
            raise MalformedAnswer(f"{what} (HTTP 200)", 200)
        result = call.read(answer, request_id)
        self._saw(call, sent, result)
        if raising:
            for d in result if isinstance(result, list) else (result,):
                if isinstance(d, Decision) and d.error is not None:
                    raise d.error
        return result

    def _saw(self, call: Call[Any], sent: bytes, result: Any) -> None:
        cache = self.cache
        if cache is None:
            return
        if isinstance(result, Decision):
            if call.cached:
                cache.put(sent, result)
            else:
                cache.saw(result.revision)
        elif isinstance(result, Plan):
            cache.saw(result.revision)
        elif isinstance(result, list):
            for d in result:
                cache.saw(d.revision)
        elif not isinstance(result, SearchPage):  # a search reports no revision
            raise TypeError(type(result).__name__)

    def read_limit(self, size: int) -> None:
        if size > self.max_answer_bytes:
            raise MalformedAnswer(
                f"the answer is larger than {self.max_answer_bytes} bytes", None
            )


_NOT_JSON = object()


def _header_value(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or not value.isascii() or any(
        c in value for c in "\r\n\0"
    ):
        raise ValueError(f"{name} must be a non-empty ASCII string without line breaks")
    return value



def declared_length(response: httpx.Response) -> int:
    """The answer's Content-Length (0 when it has none)."""
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else 0
