"""The asynchronous client: :class:`AsyncClient`, the same calls as :class:`Client`."""

from __future__ import annotations

import asyncio
import random as _random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

import httpx

from . import calls
from .bodies import Entity, encode, entity
from .bodies import action as action_object
from .core import MAX_ANSWER_BYTES, Call, Core, declared_length, transport_failure
from .errors import ClientError
from .results import Decision, Plan, SearchPage, with_request

__all__ = ["AsyncClient"]

R = TypeVar("R")


class AsyncClient:
    """A client of a Siamese server's decision API, on one pooled ``httpx.AsyncClient``:
    share it between the tasks of one event loop (make one per loop and reuse it).

    Every method answers fail-closed: a decision it cannot get (no connection, a timeout,
    a 5xx, a 401/403, any 4xx, an answer that is not the endpoint's) is a deny with the
    error attached, an empty search page, an always-denied plan. With ``raise_errors=True``
    (here, or per call) the error (a :class:`~siamese.client.ClientError`) is raised
    instead. Only a well-formed answer with ``"decision": true`` is an allow.

    Each call sends ``X-Request-ID`` (``request_id=``, else a new random one, which the
    result carries) and, when given, a W3C ``traceparent``. Authentication: ``api_key``
    (``X-API-Key``) or ``bearer_token`` (a string, or a function called for each request,
    for tokens that expire). Retries: see :mod:`siamese.client.core`. ``cache_ttl`` > 0
    turns the decision cache on: see :mod:`siamese.client.cache`. ``sleep``, ``clock`` and
    ``random`` are the waits, the cache's clock and the backoff's jitter, for tests;
    ``transport`` an httpx transport (e.g. ``httpx.MockTransport``). ``verify``: TLS
    verification as httpx takes it (an ``ssl.SSLContext`` made once and shared by the
    clients saves loading the CA bundle for each one).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        bearer_token: str | Callable[[], str] | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        max_retry_after: float = 5.0,
        raise_errors: bool = False,
        cache_ttl: float = 0.0,
        cache_size: int = 10_000,
        max_connections: int = 100,
        verify: ssl.SSLContext | str | bool = True,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
        transport: httpx.AsyncBaseTransport | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self._core = Core(
            api_key=api_key, bearer_token=bearer_token, retries=retries, backoff=backoff,
            max_backoff=max_backoff, max_retry_after=max_retry_after,
            raise_errors=raise_errors, cache_ttl=cache_ttl, cache_size=cache_size,
            clock=clock, random=random, max_answer_bytes=max_answer_bytes,
        )
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections,
                                max_keepalive_connections=max_connections),
            transport=transport,
            verify=verify,
            follow_redirects=False,
        )

    # --- the endpoints ----------------------------------------------------------------------

    async def decide(
        self,
        subject: Entity,
        action: Entity,
        resource: Entity,
        *,
        subject_type: str | None = None,
        resource_type: str | None = None,
        subject_properties: Mapping[str, Any] | None = None,
        resource_properties: Mapping[str, Any] | None = None,
        action_properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        traceparent: str | None = None,
        raise_errors: bool | None = None,
    ) -> Decision:
        """One AuthZEN evaluation. ``subject``, ``action`` and ``resource`` are ids (a
        string subject is of type ``user``, a string resource of type ``resource``, unless
        ``subject_type``/``resource_type`` say otherwise) or AuthZEN objects."""
        call = calls.decide(
            subject, action, resource, subject_type=subject_type, resource_type=resource_type,
            subject_properties=subject_properties, resource_properties=resource_properties,
            action_properties=action_properties, context=context,
        )
        return await self._run(call, request_id, traceparent, raise_errors)

    async def allowed(
        self,
        subject: Entity,
        action: Entity,
        resource: Entity,
        **options: Any,
    ) -> bool:
        """``decide(...).decision``: True only for a well-formed allow."""
        return (await self.decide(subject, action, resource, **options)).decision

    async def evaluation(
        self,
        body: Mapping[str, Any],
        *,
        request_id: str | None = None,
        traceparent: str | None = None,
        raise_errors: bool | None = None,
    ) -> Decision:
        """One AuthZEN evaluation of ``body`` as given."""
        return await self._run(calls.evaluation(body), request_id, traceparent, raise_errors)

    async def evaluations(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        subject: Entity | None = None,
        action: Entity | None = None,
        resource: Entity | None = None,
        context: Mapping[str, Any] | None = None,
        semantic: str = "execute_all",
        request_id: str | None = None,
        traceparent: str | None = None,
        raise_errors: bool | None = None,
    ) -> list[Decision]:
        """A batch: a decision per item under ``execute_all``; under
        ``deny_on_first_deny`` (or ``permit_on_first_permit``) the decisions up to the
        first deny (or permit). A batch the client could not get is a deny per item (one
        deny under ``deny_on_first_deny``). With ``raise_errors``, an item the server
        refused raises its error too."""
        call = calls.evaluations(items, subject=subject, act=action, resource=resource,
                                 context=context, semantic=semantic)
        return await self._run(call, request_id, traceparent, raise_errors)

    async def search_subjects(
        self,
        action: Entity,
        resource: Entity,
        *,
        subject_type: str = "user",
        resource_type: str | None = None,
        resource_properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        page_token: str | None = None,
        page_limit: int | None = None,
        request_id: str | None = None,
        traceparent: str | None = None,
        raise_errors: bool | None = None,
    ) -> SearchPage:
        """The subjects of ``subject_type`` that may do ``action`` on ``resource``: one
        page (pass its ``next_token`` as ``page_token`` for the next)."""
        call = calls.search(
            "subject", entity(None, "subject", subject_type), action_object(action),
            entity(resource, "resource", resource_type, resource_properties), context,
            page_token, page_limit,
        )
        return await self._run(call, request_id, traceparent, raise_errors)

    async def search_resources(
        self,
        subject: Entity,
        action: Entity,
        *,
        resource_type: str = "resource",
        subject_type: str | None = None,
        subject_properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        page_token: str | None = None,
        page_limit: int | None = None,
        request_id: str | None = None,
        traceparent: str | None = None,
        raise_errors: bool | None = None,
    ) -> SearchPage:
        """The resources of ``resource_type`` that ``subject`` may do ``action`` on."""
        call = calls.search(
            "resource", entity(subject, "subject", subject_type, subject_properties),
            action_object(action), entity(None, "resource", resource_type), context,
            page_token, page_limit,
        )
        return await self._run(call, request_id, traceparent, raise_errors)

    async def search_actions(
        self,
        subject: Entity,
        resource: Entity,
        *,
        subject_type: str | None = None,
        resource_type: str | None = None,
        subject_properties: Mapping[str, Any] | None = None,
        resource_properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        page_token: str | None = None,
        page_limit: int | None = None,
        request_id: str | None = None,
        traceparent: str | None = None,
        raise_errors: bool | None = None,
    ) -> SearchPage:
        """The actions ``subject`` may do on ``resource``."""
        call = calls.search(
            "action", entity(subject, "subject", subject_type, subject_properties), None,
            entity(resource, "resource", resource_type, resource_properties), context,
            page_token, page_limit,
        )
        return await self._run(call, request_id, traceparent, raise_errors)

    async def plan(
        self,
        subject: Entity,
        action: Entity,
        resource_type: str,
        *,
        subject_type: str | None = None,
        subject_properties: Mapping[str, Any] | None = None,
        action_properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        traceparent: str | None = None,
        raise_errors: bool | None = None,
    ) -> Plan:
        """The query plan of which resources of ``resource_type`` the subject may act on
        (``POST /v1/plan/resources``). A plan the server refuses to make (422) is, like any
        error, an always-denied plan with the error attached."""
        call = calls.plan(subject, action, resource_type, subject_type=subject_type,
                          subject_properties=subject_properties,
                          action_properties=action_properties, context=context)
        return await self._run(call, request_id, traceparent, raise_errors)

    # --- lifecycle --------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- one call ---------------------------------------------------------------------------

    async def _run(self, call: Call[R], request_id: str | None, traceparent: str | None,
             raise_errors: bool | None) -> R:
        core = self._core
        raising = core.raising(raise_errors)
        rid, headers = core.headers(request_id, traceparent)
        try:
            sent = encode(call.body)
            hit = core.cached(call, sent)
            if hit is not None:
                return cast(R, with_request(hit, rid, True))
            status, content = await self._exchange(call.path, sent, headers)
            return core.finish(call, sent, status, content, rid, raising)
        except ClientError as e:
            if raising:
                raise
            return call.failed(e, rid)

    async def _exchange(
        self, path: str, content: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """The status and body of the first answer that is not retried."""
        core = self._core
        attempt = 0
        while True:
            request = self._http.build_request("POST", path, content=content, headers=headers)
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TransportError as e:
                failure = transport_failure(e, answered=False)
                if not failure.retryable or attempt >= core.retries:
                    raise failure.error from e
                delay = core.backoff_delay(attempt)
            else:
                try:
                    answer = await self._read(response)
                except httpx.TransportError as e:
                    raise transport_failure(e, answered=True).error from e
                finally:
                    await response.aclose()
                wait = core.retry_after(response.status_code, response.headers)
                if wait is None or attempt >= core.retries:
                    return response.status_code, answer
                delay = wait
            await self._sleep(delay)
            attempt += 1

    async def _read(self, response: httpx.Response) -> bytes:
        core = self._core
        core.read_limit(declared_length(response))
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            core.read_limit(size)
            chunks.append(chunk)
        return b"".join(chunks)

