"""What every route shares: the wired objects, and the steps of a decision request
(admit the caller, read the body, record the answered decision or plan)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..audit.plan import PlanEvent
from ..decision.models import Decision, Outcome
from ..decision.redact import Redactor
from ..decision.service import DecisionService
from ..decision.shadow import ShadowEvent, ShadowRunner
from ..policy.store import PolicyStore
from ..policy.watcher import PolicyWatcher
from ..settings import Settings
from .asgi import Call, Endpoint, ErrorBody, Handler, authzen_error
from .auth import CallerAuth, TokenVerifier
from .limits import RateLimiter, parse_json
from .metrics import Metrics
from .responses import ApiError

log = logging.getLogger("siamese.server")

__all__ = ["AuditFn", "Context", "DecisionListener", "Service", "no_audit", "unaudited"]

# Called with every answered decision, every query plan (a decision of its own kind), and
# every disagreement of a shadow policy set. It may return an awaitable that resolves to
# whether it was recorded; a decision that was not is answered as a deny, a plan that was
# not is refused (a shadow's result is not awaited).
AuditFn = Callable[[Decision | PlanEvent | ShadowEvent], "Awaitable[bool] | None"]

# Told of every answered decision, after the audit callable and the metrics (the console's
# live view keeps the last ones). It runs on the answer's path: it must be cheap and must not
# block; one that raises is logged once and skipped, and never changes the answer.
DecisionListener = Callable[[Decision], None]

UNAUDITED = "denied: the decision could not be written to the audit log"
PLAN_UNAUDITED = "the plan could not be written to the audit log: it is not answered"


def no_audit(event: Decision | PlanEvent | ShadowEvent) -> None:
    """The default audit callable: the decision log is optional."""


def unaudited(decision: Decision) -> Decision:
    """The deny that replaces a decision its audit callable could not record."""
    outcome = Outcome(
        False,
        decision.outcome.revision,
        UNAUDITED,
        {"kind": "error", "error": "audit log unavailable"},
        errors=("audit log unavailable",),
        cacheable=False,
    )
    return Decision(
        outcome, decision.decision_id, decision.request, decision.cached, decision.latency_us
    )


def _failures(call: Call) -> str:
    return "failed-auth:ip:" + (call.client_host or "unknown")


class Service(Protocol):
    """Background work with a lifecycle (started and stopped by the app's lifespan) and a
    state for ``/health`` (``ok`` or ``running`` when all is well)."""

    @property
    def state(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Context:
    settings: Settings
    store: PolicyStore
    service: DecisionService
    audit: AuditFn
    watcher: PolicyWatcher | None
    metrics: Metrics
    callers: CallerAuth
    verifier: TokenVerifier | None
    limiter: RateLimiter | None
    services: Mapping[str, Service] = field(default_factory=dict)
    admins: CallerAuth | None = None  # SIAMESE_ADMIN_KEYS; None: the admin endpoints are off
    # finds a request's secrets (SIAMESE_AUDIT_REDACT), to keep them out of the answers too
    redact: Redactor = field(default_factory=Redactor)
    # told of every answered decision (none by default: then the answer's path is unchanged)
    listeners: list[DecisionListener] = field(default_factory=list)
    listener_errors: int = 0  # calls of a listener that raised
    shadow: ShadowRunner | None = None  # SIAMESE_SHADOW_POLICY_DIR (also a listener)
    _failed_listeners: set[DecisionListener] = field(default_factory=set, init=False,
                                                     repr=False)

    def endpoint(
        self, name: str, handler: Handler, error_body: ErrorBody = authzen_error
    ) -> Endpoint:
        return Endpoint(name, handler, self.metrics.refused, error_body)

    def admit(self, call: Call) -> None:
        """Authenticate the caller (401) and take a token from its rate limit (429)."""
        if self.callers.mode == "none":
            if self.limiter is not None:
                self.limit("ip:" + (call.client_host or "unknown"))
            return
        self._not_guessing(call)
        try:
            caller = self.callers.authenticate(
                authorization=call.header(b"authorization"),
                api_key=call.header(b"x-api-key"),
                client_host=call.client_host,
            )
        except ApiError:
            self._failed(call)
            raise
        self.limit(caller.id)

    def admit_admin(self, call: Call) -> None:
        """Authenticate an administrator by one of SIAMESE_ADMIN_KEYS, whatever SIAMESE_AUTH
        says (403 when none is set; 401 without a key or with an unknown one; 403 for a
        caller of the decision API whose credential is not an admin key), then take a token
        from its rate limit (429)."""
        if self.admins is None:
            raise ApiError(
                403, "the admin query endpoint is disabled: set SIAMESE_ADMIN_KEYS"
            )
        authorization = call.header(b"authorization")
        api_key = call.header(b"x-api-key")
        self._not_guessing(call)
        try:
            caller = self.admins.authenticate(
                authorization=authorization, api_key=api_key, client_host=call.client_host
            )
        except ApiError:
            self._failed(call)
            if (authorization or api_key) and self.callers.mode != "none":
                try:
                    self.callers.authenticate(
                        authorization=authorization,
                        api_key=api_key,
                        client_host=call.client_host,
                    )
                except ApiError:
                    pass
                else:
                    raise ApiError(
                        403, "this credential may call the decision API, not the admin "
                        "endpoints: send one of SIAMESE_ADMIN_KEYS"
                    ) from None
            raise
        self.limit(caller.id)

    # Failed authentications are counted per client address, in a bucket of their own: an
    # address that has used it up is refused (429) before any key it sends is compared, so
    # keys cannot be guessed faster than the rate limit.
    def _not_guessing(self, call: Call) -> None:
        if self.limiter is not None:
            wait = self.limiter.peek(_failures(call))
            if wait is not None:
                raise self._too_many(wait)

    def _failed(self, call: Call) -> None:
        if self.limiter is not None:
            wait = self.limiter.check(_failures(call))
            if wait is not None:
                raise self._too_many(wait)

    def _too_many(self, wait: float) -> ApiError:
        assert self.limiter is not None
        return ApiError(
            429,
            f"rate limit exceeded ({self.limiter.rate:g} requests per second): retry later",
            {"Retry-After": self.limiter.retry_after(wait)},
        )

    def limit(self, client_id: str) -> None:
        if self.limiter is not None:
            wait = self.limiter.check(client_id)
            if wait is not None:
                raise self._too_many(wait)

    async def read(self, call: Call) -> Any:
        """The request's JSON body (413 when too large, 400 when malformed or too deep)."""
        settings = self.settings
        return parse_json(await call.body(settings.max_body_bytes), settings.max_json_depth)

    async def read_object(self, call: Call) -> dict[str, Any]:
        """The request's JSON body, which must be an object (else 400)."""
        body = await self.read(call)
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        return body

    def shown(self, decision: Decision) -> tuple[str, Any]:
        """The decision's reason and explanation as an answer may show them: without the
        request's secrets (a token in a path, a password a rule compared...), as the
        decision log shows them."""
        o = decision.outcome
        scrub = self.redact.of(decision.request.input).scrub
        if scrub is None:
            return o.reason, o.explanation
        return scrub.text(o.reason), scrub(o.explanation)

    async def answered(self, decision: Decision, endpoint: str) -> Decision:
        """Every decision goes to the audit callable before it is answered, then to the
        metrics and the listeners. The decision to answer with is returned: a deny instead
        when the audit callable says it could not record it. An audit callable that raises
        stops the answer (the caller gets an error, never an allow); a listener that raises
        does not."""
        pending = self.audit(decision)
        if pending is not None and not await pending:
            decision = unaudited(decision)
        self.metrics.decided(endpoint, decision.outcome.allowed, decision.latency_us)
        listeners = self.listeners
        if listeners:
            for listener in listeners:
                try:
                    listener(decision)
                except Exception:
                    self._listener_failed(listener)
        return decision

    async def planned(self, event: PlanEvent) -> None:
        """Every plan goes to the audit callable before it is answered. One that it says it
        could not record is refused (503): a filter is never answered unlogged. An audit
        callable that raises stops the answer too."""
        pending = self.audit(event)
        if pending is not None and not await pending:
            raise ApiError(503, PLAN_UNAUDITED)

    def _listener_failed(self, listener: DecisionListener) -> None:
        """Count a listener's failure; log its first (an exception being handled)."""
        self.listener_errors += 1
        if listener not in self._failed_listeners:
            self._failed_listeners.add(listener)
            log.exception("decision listener %r failed; the answer stands (its later "
                          "failures are counted, not logged)", listener)
