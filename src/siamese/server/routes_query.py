"""``POST /v1/query``: any goal, proved for an administrator, with its solutions and proofs
(what ``siamese query`` does from the files, against the policy set that is serving)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.routing import Route

from ..decision.service import NotReady
from ..engine import (
    BUILTIN_ARITIES,
    QUERY_PROOF_DEPTH,
    BodyItem,
    EngineError,
    Goal,
    LimitExceeded,
    Not,
    Or,
    PolicySyntaxError,
    Program,
    Query,
    compile_query,
    distinct_solutions,
    parse_goals,
    to_json,
)
from .asgi import Call, Reply
from .context import Context
from .responses import ApiError, bounded_int
from .schemas import DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT

__all__ = ["refusal", "routes"]

SOURCE = "<query>"


def _goals(items: Iterable[BodyItem]) -> Iterable[Goal]:
    """Every goal the query calls, those inside ``not`` and ``;`` included."""
    for item in items:
        if isinstance(item, Goal):
            yield item
        elif isinstance(item, Not):
            yield from _goals(item.body)
        elif isinstance(item, Or):
            for branch in item.branches:
                yield from _goals(branch)


def refusal(items: Iterable[BodyItem], program: Program, allow: Iterable[str]) -> str | None:
    """Why the query may not run, or None. ``allow`` (SIAMESE_QUERY_ALLOW) names the
    predicates it may call; empty, every predicate of the policy set. The engine's own
    built-ins compute on their arguments and are always allowed; an async built-in
    (``http_get_json``, the operator's) reaches outside the server and must be named."""
    allowed = frozenset(allow)
    for goal in _goals(items):
        name = goal.term.name
        where = f"{SOURCE}:{goal.line}:{goal.col}"
        builtin = program.builtins.get(name)
        if builtin is not None:
            if builtin.is_async and name not in allowed:
                return (
                    f"{where}: built-in '{name}' reaches outside the server: the query may "
                    "call it only if SIAMESE_QUERY_ALLOW names it"
                )
        elif allowed and name not in allowed:
            return f"{where}: predicate '{name}' is not in SIAMESE_QUERY_ALLOW"
    return None


def _mistake(items: Iterable[BodyItem], program: Program) -> str | None:
    """A call of a predicate that no policy file defines, or of a built-in with the wrong
    number of arguments (what ``siamese check`` reports in policy files)."""
    for goal in _goals(items):
        t = goal.term
        n = len(t.args)
        where = f"{SOURCE}:{goal.line}:{goal.col}"
        if t.name in program.builtins:
            fixed = BUILTIN_ARITIES.get(t.name)
            if fixed is not None and n not in fixed:
                want = " or ".join(map(str, fixed))
                return f"{where}: built-in '{t.name}' takes {want} arguments, not {n}"
        elif (t.name, n) not in program.predicates:
            # refused before compiling: compiling the call would add the predicate to the
            # serving program, which requests never change
            return f"{where}: unknown predicate {t.name}/{n}: no policy file defines it"
    return None


def _request(body: dict[str, Any]) -> tuple[str, Any, int, bool]:
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(
            400, "'query' must be a non-empty string of goals, e.g. 'member_of(alice, ?g)'"
        )
    data = body.get("input")
    if data is not None and not isinstance(data, dict):
        raise ApiError(400, "'input' must be an object (the request that input(Path, ?V) reads)")
    limit = bounded_int(body.get("limit", DEFAULT_QUERY_LIMIT), "limit", 1, MAX_QUERY_LIMIT)
    explain = body.get("explain", True)
    if not isinstance(explain, bool):
        raise ApiError(400, "'explain' must be true or false")
    return text, data, limit, explain


def routes(ctx: Context) -> list[Route]:
    async def query(call: Call) -> Reply:
        ctx.admit_admin(call)
        text, data, limit, explain = _request(await ctx.read_object(call))
        policy = ctx.store.get()  # one revision for the whole query
        if policy is None:
            raise NotReady("no policy set is loaded")
        program = policy.program
        try:
            items, names = parse_goals(text, SOURCE)
        except PolicySyntaxError as e:
            raise ApiError(400, f"{e.location}: {e.message}") from None
        except RecursionError:  # parentheses nested past what the parser can follow
            raise ApiError(400, f"{SOURCE}: the query is nested too deeply") from None
        refused = refusal(items, program, ctx.settings.query_allow)
        if refused is not None:
            raise ApiError(403, refused)
        mistake = _mistake(items, program)
        if mistake is not None:
            raise ApiError(400, mistake)
        try:
            goals = compile_query(program, items)
        except EngineError as e:
            raise ApiError(400, f"{SOURCE}: {e}") from None
        q = Query(program, goals, limits=ctx.settings.limits(), input=data, proofs=explain)
        solutions: list[dict[str, Any]] = []
        truncated = False
        # one answer per distinct binding, as siamese query prints them
        solve = distinct_solutions(q, names)
        try:
            async for values in solve:
                if len(solutions) == limit:
                    truncated = True
                    break
                solution: dict[str, Any] = {"bindings": {n: to_json(v) for n, v in values.items()}}
                if explain:
                    # a query's proof keeps one level more than a decision's (the goal asked)
                    solution["proof"] = [node.to_dict(QUERY_PROOF_DEPTH) for node in q.proof()]
                solutions.append(solution)
        except LimitExceeded as e:
            raise ApiError(
                422, f"query stopped: limit exceeded ({e.limit}: {e.value}); narrow the query"
            ) from None
        except EngineError as e:
            raise ApiError(422, f"query failed: {e}") from None
        except RecursionError:
            raise ApiError(422, "query failed: a solution is nested too deeply") from None
        finally:
            await solve.aclose()
        answer = {"revision": policy.revision, "solutions": solutions, "truncated": truncated}
        try:
            body = orjson.dumps(answer)
        except orjson.JSONEncodeError as e:  # a value nested too deeply, e.g. fetched JSON
            raise ApiError(422, f"the solutions cannot be written as JSON: {e}") from None
        return 200, orjson.Fragment(body), []

    return [Route("/v1/query", ctx.endpoint("query", query), methods=["POST"], name="query")]
