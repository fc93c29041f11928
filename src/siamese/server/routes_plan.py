"""``POST /v1/plan/resources``: which resources of a type a subject may act on, as a filter
that the application's own query runs (``siamese plan`` does the same from the files).

The body is an AuthZEN evaluation's whose resource has a ``type`` and no ``id``. The plan is
made against the serving policy set, bounded by the decision limits, in a worker thread: it
is CPU work that would otherwise hold the event loop for as long as it takes. A plan the
planner refuses (a rule it cannot turn into a condition, a limit) is a 422 that names the
rule or the limit: never a partial filter. Every plan is written to the decision log before
it is answered.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.routing import Route

from ..audit.plan import PlanEvent
from ..decision.service import NotReady
from ..plan import PlanError, PlanRequest, plan_resources
from .asgi import Call, Reply
from .context import Context
from .responses import ApiError

__all__ = ["PLANS_AT_ONCE", "Planning", "answer", "routes"]

# Plans computed at once; more wait their turn without holding a thread. The worker threads
# are the event loop's default executor, which the decision log's writes and the policy
# reloads use too: plans must not take all of them.
PLANS_AT_ONCE = 4


def answer(event: PlanEvent) -> dict[str, Any]:
    """The plan's answer: ``revision``, ``plan_id``, ``filter`` and ``explanation``. It is not
    scrubbed of the request's secrets as a decision's explanation is: the filter must hold
    every value the policy compares the rows with, and the explanation restates the filter."""
    return {"revision": event.revision, "plan_id": event.plan_id, "filter": event.filter,
            "explanation": event.explanation}


class Planning:
    """Plans made for the routes that answer them (this one and the Cerbos-compatible
    ``/api/plan/resources``): at most PLANS_AT_ONCE at a time, each logged before it is
    answered."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.running = asyncio.Semaphore(PLANS_AT_ONCE)

    async def plan(self, request: PlanRequest) -> PlanEvent:
        """The plan of ``request`` against the serving set, logged; 422 (ApiError) for a
        plan the planner refuses, 503 when no set is loaded or the log cannot take it."""
        ctx, service = self.ctx, self.ctx.service
        policy = ctx.store.get()  # one revision for the whole plan
        if policy is None:
            raise NotReady("no policy set is loaded")
        async with self.running:
            started = service.clock()
            try:
                made = await asyncio.to_thread(
                    plan_resources, policy, request, limits=ctx.settings.limits()
                )
            except PlanError as e:
                raise ApiError(422, f"no plan: {e}") from None
            latency_us = int((service.clock() - started) * 1_000_000)
        shown = made.to_dict()
        event = PlanEvent(
            plan_id=service.new_id(),
            revision=made.revision,
            subject=request.subject,
            action=request.action,
            resource_type=request.resource_type,
            input=request.input,
            filter=shown["filter"],
            explanation=shown["explanation"],
            latency_us=latency_us,
        )
        await ctx.planned(event)
        return event


def routes(ctx: Context, planning: Planning) -> list[Route]:
    async def plan(call: Call) -> Reply:
        ctx.admit(call)
        # no claims, as for an AuthZEN evaluation: the caller's credential authenticates the
        # application that asks, not the subject the plan is for
        request = PlanRequest.from_authzen(await ctx.read_object(call))
        return 200, answer(await planning.plan(request)), []

    return [
        Route(
            "/v1/plan/resources",
            ctx.endpoint("plan_resources", plan),
            methods=["POST"],
            name="plan_resources",
        )
    ]
