"""The audit log the server calls after every decision.

Events go through a bounded queue to a writer task that appends them in batches, off the
request path. A clean shutdown (``stop``) writes every queued event. When the sink fails
(disk full, permission lost) the server keeps answering, the lost events are counted, and
the log reports itself degraded while writes fail and for ``degraded_for`` seconds after
any event is lost (so that a loss shows in ``/health`` however brief it was). An event whose
line cannot be made is written in a degraded form (its odd values converted, and the event
says so) rather than lost. With ``required=True`` a decision is answered only once its event
is written: the call returns a future that says whether it was, and the server denies when
it was not.

A query plan (:class:`~siamese.audit.plan.PlanEvent`) goes through the same queue, writer and
file as the decisions, with the same redaction and the same answer to ``required``: the
server refuses a plan whose event was not written. So does a shadow policy's disagreement
(:class:`~siamese.decision.shadow.ShadowEvent`), whose answer nobody waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ..decision.models import Decision
from ..decision.shadow import ShadowEvent
from .event import Record, Redactor, line_of, record
from .plan import PlanEvent, PlanRecord, plan_line, plan_record
from .shadow import ShadowRecord, shadow_line, shadow_record

log = logging.getLogger("siamese.audit")

__all__ = ["AuditLog", "Sink"]

_Item = tuple["Record | PlanRecord | ShadowRecord", "asyncio.Future[bool] | None"]
Event = Decision | PlanEvent | ShadowEvent


def _held(rec: Record | PlanRecord | ShadowRecord) -> int:
    """The bytes of request JSON an event holds while it is queued."""
    if isinstance(rec, PlanRecord | ShadowRecord):
        return len(rec.request.json)
    return len(rec[6].json)


def _name(rec: Record | PlanRecord | ShadowRecord) -> str:
    if isinstance(rec, PlanRecord):
        return f"plan {rec.event.plan_id}"
    if isinstance(rec, ShadowRecord):
        return f"shadow of decision {rec.event.decision.decision_id}"
    return f"decision {rec[0]}"


def _line_of(rec: Record | PlanRecord | ShadowRecord, safe: bool) -> bytes:
    if isinstance(rec, PlanRecord):
        return plan_line(rec, safe=safe)
    if isinstance(rec, ShadowRecord):
        return shadow_line(rec, safe=safe)
    return line_of(rec, safe=safe)


def _what(event: Event) -> str:
    if isinstance(event, PlanEvent):
        return f"plan {event.plan_id}"
    if isinstance(event, ShadowEvent):
        return f"shadow of decision {event.decision.decision_id}"
    return f"decision {event.decision_id}"


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class AuditLog:
    def __init__(
        self,
        sink: Sink,
        *,
        required: bool = False,
        queue_size: int = 100_000,
        batch: int = 4096,
        linger: float | None = None,
        redact: Redactor | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        degraded_for: float = 300.0,
        queue_bytes: int = 256 * 2**20,
    ) -> None:
        self.sink = sink
        self.required = required
        self.batch = batch
        # how long the writer lets events gather after the first one: a write (a timer, a
        # thread hop, a wake-up of the loop) costs ~100 µs, an event ~3 µs. 20 ms batches a
        # few hundred events at full load; with ``required`` every answer waits for its
        # write, so there the wait is short
        self.linger = (0.002 if required else 0.02) if linger is None else linger
        self.redact = redact or Redactor()
        self.clock = clock  # the events' time
        self.monotonic = monotonic  # how long ago the last loss was
        self.degraded_for = degraded_for
        # (record, future): the line is made by the writer, a batch at a time
        self._buf: deque[_Item] = deque()
        self._queue_size = queue_size
        self._queue_bytes = queue_bytes  # the requests' JSON the queue may hold
        self._queued_bytes = 0
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.lost = 0
        self.converted = 0  # events written in a degraded form (values converted)
        self.error: str | None = None  # the last write error, while degraded
        self.last_loss: str | None = None  # why the last event was lost
        self._lost_at: float | None = None

    @property
    def state(self) -> str:
        if self._task is None:
            return "stopped"
        return "degraded" if self.error or self._lost_lately() else "ok"

    def _lost_lately(self) -> bool:
        return self._lost_at is not None and self.monotonic() - self._lost_at < self.degraded_for

    def _lose(self, n: int, why: str) -> None:
        self.lost += n
        self.last_loss = why
        self._lost_at = self.monotonic()

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "written": self.written,
            "lost": self.lost,
            "converted": self.converted,
            "queued": len(self._buf),
            "required": self.required,
            "error": self.error,
            "last_loss": self.last_loss,
            "lost_lately": self._lost_lately(),
        }

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._stopping = False
        self._task = asyncio.create_task(self._writer(), name="siamese-audit-writer")

    async def stop(self) -> None:
        """Write everything queued, then stop."""
        if self._task is None or self._wake is None:
            return
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self._wake = None
        self.sink.close()

    def __call__(self, event: Event) -> asyncio.Future[bool] | None:
        """Queue the decision's (or the plan's) event. Returns None, or with ``required`` a
        future that resolves to whether the event was written."""
        fut: asyncio.Future[bool] | None = None
        if self.required:
            fut = asyncio.get_running_loop().create_future()
        wake = self._wake
        if wake is None or self._stopping:
            self._lose(1, "the decision log is not running")
        elif len(self._buf) >= self._queue_size or self._queued_bytes >= self._queue_bytes:
            self._lose(1, "audit queue full")
            self.error = "audit queue full"
        else:
            rec: Record | PlanRecord | ShadowRecord
            try:
                if isinstance(event, PlanEvent):
                    rec = plan_record(event, self.clock(), self.redact)
                elif isinstance(event, ShadowEvent):
                    rec = shadow_record(event, self.clock(), self.redact)
                else:
                    rec = record(event, self.clock(), self.redact)
            except Exception as e:  # a bug: this event only
                what = _what(event)
                log.exception("audit event of %s lost", what)
                self._lose(1, f"event of {what}: {e!r}")
            else:
                self._buf.append((rec, fut))
                self._queued_bytes += _held(rec)
                if not wake.is_set():
                    wake.set()
                return fut
        if fut is not None:
            fut.set_result(False)
        return fut

    async def _writer(self) -> None:
        wake = self._wake
        assert wake is not None
        buf = self._buf
        while True:
            await wake.wait()
            # one write per linger: the events that come during a write wait for the next
            # (writing them at once would make a batch of whatever one write's time brings),
            # unless a whole batch is waiting already or the log is stopping
            if self.linger and not self._stopping and len(buf) < self.batch:
                await asyncio.sleep(self.linger)
            wake.clear()
            if buf:
                n = min(len(buf), self.batch)
                items = [buf.popleft() for _ in range(n)]
                self._queued_bytes -= sum(_held(item[0]) for item in items)
                await self._write(items)
            if buf:
                wake.set()
            elif self._stopping:
                return

    async def _write(self, items: list[_Item]) -> None:
        # The lines are made here rather than on each request: a few hundred in a row keep
        # the serialiser warm in the CPU's caches, and the request path only queues.
        lines: list[bytes] = []
        kept: list[_Item] = []
        for item in items:
            line = self._line(item[0])
            if line is None:
                if item[1] is not None:
                    item[1].set_result(False)
            else:
                lines.append(line)
                kept.append(item)
        items = kept
        if not items:
            return
        try:
            await asyncio.to_thread(self.sink.write, b"".join(lines))
        except Exception as e:  # OSError mostly: keep serving, count, report
            self._lose(len(items), f"write failed: {type(e).__name__}: {e}")
            if self.error is None:
                log.error("audit log write failed: %s", e)
            self.error = f"{type(e).__name__}: {e}"
            ok = False
        else:
            self.written += len(items)
            if self.error is not None:
                log.warning("audit log writable again")
            self.error = None
            ok = True
        for _, fut in items:
            if fut is not None and not fut.done():
                fut.set_result(ok)

    def _line(self, rec: Record | PlanRecord | ShadowRecord) -> bytes | None:
        """The event's line; in a degraded form when its values cannot all be written as
        they are; None (the event lost, and counted) when not even that can be made."""
        try:
            return _line_of(rec, False)
        except Exception as e:
            first = e
        try:
            line = _line_of(rec, True)
        except Exception:  # a bug: lose this event, not the batch
            log.exception("audit event of %s lost", _name(rec))
            self._lose(1, f"event of {_name(rec)}: {first!r}")
            return None
        log.warning("audit event of %s written with converted values: %s", _name(rec), first)
        self.converted += 1
        return line
