"""The public query: a :class:`~siamese.engine.machine.Machine` with the drivers that run
it, and the helpers that make queries.

The machine is a generator of requests (SOLUTION, PAUSE, Await). A driver runs it:
:meth:`Query.solve_sync` for programs without async built-ins, :meth:`Query.solve` and
:meth:`Query.first` on an event loop (awaiting async built-ins under the deadline, and
giving the loop a turn every ``slice_ms``), and :meth:`Query.drive` for the explanation
passes of :mod:`whynot`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Coroutine, Generator, Iterator
from typing import Any

from .context import current_context
from .errors import EvaluationError, LimitExceeded
from .events import ProofJson, proof_from_events, proof_json
from .goals import BUILTIN, CALL, Slot, build_goal
from .machine import PAUSE, SOLUTION, Await, Machine
from .program import Program
from .proof import ProofNode, WhyNot
from .terms import Var, format_term, resolve
from .whynot import compiled_pass, prove, prove_or_why_not, why_not

__all__ = ["Query", "call_goal", "compile_query", "distinct_solutions", "solution_key"]


class Query(Machine):
    """One query against a finished program (see :func:`~siamese.engine.build.finish`).

    ``goals`` are runtime goals (see :func:`compile_query` and :func:`call_goal`).
    ``input`` is the request that the ``input`` built-in reads; built-ins see it, and the
    rest of their context, through :attr:`ctx` (a :class:`BuiltinContext`)."""

    # -- drivers ----------------------------------------------------------------------------

    def solve_sync(self) -> Iterator[None]:
        """Yield once per solution (bindings are live on the query's variables meanwhile)."""
        gen = self.run()
        for x in gen:
            if x is SOLUTION:
                self.count_solution()
                yield None
            elif x is not PAUSE:
                close = getattr(x.awaitable, "close", None)
                if close is not None:
                    close()
                gen.close()
                raise EvaluationError(
                    f"built-in '{x.name}' is asynchronous: use the async query API"
                )

    def first_sync(self) -> bool:
        for _ in self.solve_sync():
            return True
        return False

    async def solve(self) -> AsyncGenerator[None, None]:
        """Async driver: yields once per solution; awaits async built-ins and gives the
        event loop a turn every ``slice_ms``."""
        gen = self.run()
        try:
            while await self._drive(gen, True, False):
                yield None
        finally:
            gen.close()

    async def first(self) -> bool:
        """Whether the query has a solution (its bindings stay live if so)."""
        return bool(await self._drive(self.run(), True))

    def drive(self, gen: Generator[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
        """Run a generator of machine requests (e.g. :meth:`why_not`) to its return value
        (await the coroutine returned: one coroutine per call, not two)."""
        return self._drive(gen, False)

    def drive_sync(self, gen: Generator[Any, Any, Any]) -> Any:
        """Run a generator of machine requests to its return value without an event loop
        (it gives no turn; an async built-in is an EvaluationError). For the explanations
        made after a decision, of rules that compiled code ran: none of them awaits."""
        send: Any = None
        try:
            while True:
                try:
                    x = gen.send(send)
                except StopIteration as stop:
                    return stop.value
                if x is not PAUSE and x is not SOLUTION:
                    close = getattr(x.awaitable, "close", None)
                    if close is not None:
                        close()
                    raise EvaluationError(
                        f"built-in '{x.name}' is asynchronous: use the async query API"
                    )
        finally:
            gen.close()

    async def _drive(self, gen: Generator[Any, Any, Any], first: bool, close: bool = True) -> Any:
        """The driver of :meth:`first` (True at the first solution, False with none), of
        :meth:`solve` (the same, once per solution: ``gen`` stays open) and of :meth:`drive`
        (the generator's return value). A coroutine, not an async generator: most
        decisions never await, and this is their whole cost of being async."""
        if self.pause_owed:  # by a compiled pass that ran out of its slice: its turn first
            self.pause_owed = False
            await asyncio.sleep(0)
        send: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    x = gen.throw(error) if error is not None else gen.send(send)
                except StopIteration as stop:
                    return False if first else stop.value
                send, error = None, None
                if x is SOLUTION:
                    if first:
                        self.count_solution()
                        return True
                elif x is PAUSE:
                    await asyncio.sleep(0)
                else:
                    send, error = await self._await(x)
        finally:
            if close:
                gen.close()

    async def _await(self, req: Await) -> tuple[Any, BaseException | None]:
        timeout = req.timeout
        if self.deadline is not None:
            left = max(self.deadline - self.clock(), 0.0)
            timeout = left if timeout is None else min(timeout, left)
        token = current_context.set(self.ctx)
        try:
            # asyncio.timeout, not wait_for: no Task per call of an async built-in
            async with asyncio.timeout(timeout):
                value = await req.awaitable
        except StopAsyncIteration:
            return ("stop", None), None
        except TimeoutError:
            own = req.timeout is not None and timeout == req.timeout
            limit = (
                f"{req.timeout} s (the built-in's own)" if own else f"{self.limits.timeout_ms} ms"
            )
            return None, LimitExceeded("timeout", limit, f"built-in '{req.name}'")
        except LimitExceeded as e:
            return None, e
        except Exception as e:  # a failing async built-in ends the query: never a silent pass
            return None, EvaluationError(f"built-in '{req.name}' failed: {e!r}")
        finally:
            current_context.reset(token)
        return ("ok", value), None

    # -- explanations (queries made with ``proofs=True``) -------------------------------------

    def proof(self) -> list[ProofNode]:
        """The proof of the current solution."""
        return proof_from_events(self.events)

    def proof_json(self) -> ProofJson:
        """The current solution's proof as JSON-ready dicts (``ProofNode.to_dict``), and
        its rule ids, the deciding rule first, each once."""
        return proof_json(self.events)

    def why_not(self, goal: tuple[Any, ...], depth: int = 2) -> Generator[
        Any, Any, list[WhyNot]
    ]:
        """See :func:`~siamese.engine.whynot.why_not` (drive it with :meth:`drive`)."""
        return why_not(self, goal, depth)

    def prove(self, goal: tuple[Any, ...]) -> Generator[Any, Any, ProofJson | None]:
        """See :func:`~siamese.engine.whynot.prove` (drive it with :meth:`drive`)."""
        return prove(self, goal)

    def prove_or_why_not(self, goal: tuple[Any, ...], depth: int = 2) -> Generator[
        Any, Any, tuple[ProofJson | None, list[WhyNot]]
    ]:
        """See :func:`~siamese.engine.whynot.prove_or_why_not` (drive it with :meth:`drive`)."""
        return prove_or_why_not(self, goal, depth)

    def compiled_pass(self, goal: tuple[Any, ...], depth: int = 2, why: bool = True) -> Any:
        """See :func:`~siamese.engine.whynot.compiled_pass`."""
        return compiled_pass(self, goal, depth, why)


# --- making queries --------------------------------------------------------------------------


def solution_key(values: dict[str, Any]) -> str:
    """What makes two solutions the same: their values as written (so ``true`` and ``1``
    stay apart, as unification keeps them)."""
    return repr(sorted((n, format_term(v)) for n, v in values.items()))


async def distinct_solutions(q: Query, names: dict[str, Var]) -> AsyncGenerator[dict[str, Any]]:
    """Each distinct binding of the named variables (``_`` left out), resolved, in the order
    found. The query's bindings stay live while the caller holds a solution (for proofs)."""
    visible = {n: v for n, v in names.items() if n != "_"}
    seen: set[str] = set()
    solve = q.solve()
    try:
        async for _ in solve:
            values = {n: resolve(v) for n, v in visible.items()}
            key = solution_key(values)
            if key in seen:
                continue
            seen.add(key)
            yield values
    finally:
        await solve.aclose()


def compile_query(program: Program, items: Any) -> tuple[Any, ...]:
    """Runtime goals for parsed body items; the items' own variables stay the query's."""
    slots: dict[Var, Slot] = {}
    templates = program.compile_body(items, slots)
    frame: list[Any] = [None] * len(slots)
    for var, slot in slots.items():
        frame[slot.i] = var
    return tuple(build_goal(g, frame) for g in templates)


def call_goal(program: Program, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The runtime goal for ``name(args...)`` (a predicate or a built-in)."""
    b = program.builtins.get(name)
    if b is not None:
        return (BUILTIN, b, args, None)
    return (CALL, program.predicate(name, len(args)), args, None)
