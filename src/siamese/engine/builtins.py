"""Built-in predicates.

A built-in is a Python function ``fn(ctx, args)`` where ``ctx`` is the running query's
:class:`~siamese.engine.context.BuiltinContext` (``ctx.unify(a, b)``, ``ctx.input``,
``ctx.wall_clock()``, ``ctx.time_left()``...) and ``args`` the call's arguments
(dereference them with :func:`deref`). A deterministic built-in returns a bool;
a nondeterministic one returns a generator that unifies and yields once per solution (or,
when it can tell at once, a bool).
Custom async built-ins keep the original engine's shape (``async def b(goal, bindings)``)
and are wrapped with :func:`custom`.

None of them evaluates code, and none reaches the network. (One exception to "the engine
uses the standard library only": ``regex`` replaces ``re`` for its match timeout.)
Values they make are bounded (see :class:`~siamese.engine.limits.Limits`), and so are the
patterns of ``regex`` and ``glob`` (see :mod:`patterns`).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from .compat import AsyncCall
from .context import BuiltinContext
from .errors import EvaluationError, LimitExceeded
from .patterns import compile_glob, compile_regex
from .terms import JsonMap, Struct, Var, deref, format_term, from_json, resolve, same_value, undo

__all__ = ["DEFAULT_BUILTINS", "Builtin", "builtin_names", "custom"]


class Builtin:
    __slots__ = ("det", "fn", "is_async", "name", "request", "timeout", "volatile")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        det: bool = True,
        volatile: bool = False,
        request: bool = False,
        is_async: bool = False,
        timeout: float | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.det = det
        self.volatile = volatile  # its answer changes with time: decisions using it are not cached
        self.request = request  # its answer depends on the request: tables using it are per query
        self.is_async = is_async
        self.timeout = timeout

    def call_async(self, ctx: BuiltinContext, args: tuple[Any, ...]) -> AsyncCall:
        return AsyncCall(self.fn, self.name, args)

    def __repr__(self) -> str:
        return f"<builtin {self.name}>"


def custom(
    fn: Callable[..., Any], name: str = "", *, volatile: bool = False, timeout: float | None = None
) -> Builtin:
    """Wrap an original-engine style ``async def b(goal, bindings)`` built-in."""
    return Builtin(
        name or fn.__name__,
        fn,
        det=False,
        volatile=volatile,
        request=True,
        is_async=True,
        timeout=timeout,
    )


# --- helpers -------------------------------------------------------------------------------


def _bound(t: Any, what: str, name: str) -> Any:
    t = deref(t)
    if type(t) is Var:
        raise EvaluationError(f"{name}: {what} is unbound")
    return t


def _text(t: Any, name: str) -> str:
    t = _bound(t, "argument", name)
    if type(t) is not str:
        raise EvaluationError(f"{name}: expected a string, got {format_term(t)}")
    return t


def _is_number(v: Any) -> bool:
    return (type(v) is int or type(v) is float) and type(v) is not bool


_ARITH = frozenset({"+", "-", "*", "/", "//", "%", "abs", "min", "max", "len"})


def _too_big(name: str, a: int, b: int, max_bits: int) -> LimitExceeded:
    return LimitExceeded(
        "max_int_bits", max_bits,
        f"'{name}' of integers of {a.bit_length()} and {b.bit_length()} bits",
    )


def evaluate(t: Any, max_bits: int, memo: dict[int, Any] | None = None) -> Any:
    """The value of an arithmetic expression (Structs named + - * / // % abs min max len).
    No integer it makes has more than ``max_bits`` bits: a product is refused before it is
    computed (squaring a number a few times would otherwise hold the server for seconds).
    ``memo``: the values of the subexpressions met so far, by identity, so a subexpression
    shared (as in a term a rule built by doubling: 2^n nodes as a tree) is computed once."""
    t = deref(t)
    tt = type(t)
    if tt is int or tt is float:
        return t
    if tt is bool:
        raise EvaluationError(f"arithmetic on a boolean: {format_term(t)}")
    if tt is Var:
        raise EvaluationError("arithmetic on an unbound variable")
    if tt is Struct and t.name in _ARITH:
        name = t.name
        if name == "len" and len(t.args) == 1:
            v = deref(t.args[0])
            if type(v) in (tuple, str, JsonMap):
                return len(v)
            raise EvaluationError(f"len of {format_term(v)}")
        args = t.args
        if len(args) == 2:  # the common case, two numbers: nothing shared below
            a = deref(args[0])
            b = deref(args[1])
            ta = type(a)
            tb = type(b)
            if (ta is int or ta is float) and (tb is int or tb is float):
                return _apply(t, [a, b], max_bits)
        if memo is None:
            memo = {}
        else:
            r = memo.get(id(t))  # t is alive (reachable from the root) during the call
            if r is not None:
                return r
        r = _apply(t, [evaluate(a, max_bits, memo) for a in args], max_bits)
        memo[id(t)] = r
        return r
    raise EvaluationError(f"not a number: {format_term(t)}")


def _apply(t: Struct, vals: list[Any], max_bits: int) -> Any:
    name = t.name
    try:
        if name == "abs" and len(vals) == 1:
            return abs(vals[0])
        if name == "min" and vals:
            return min(vals)
        if name == "max" and vals:
            return max(vals)
        if len(vals) != 2:
            raise EvaluationError(f"'{name}' takes two operands")
        a, b = vals
        if name == "+":
            r = a + b
        elif name == "-":
            r = a - b
        elif name == "*":
            # the product has at least bits(a) + bits(b) - 1 bits: refuse it uncomputed
            if (type(a) is int and type(b) is int
                    and a.bit_length() + b.bit_length() > max_bits + 1):
                raise _too_big(name, a, b, max_bits)
            r = a * b
        elif name == "/":
            if type(a) is int and type(b) is int and b and a % b == 0:
                return a // b  # exact (a float quotient loses digits of large integers)
            return a / b
        elif name == "//":
            return a // b
        else:
            return a % b
    except ZeroDivisionError:
        raise EvaluationError(f"division by zero in {format_term(t)}") from None
    except OverflowError:  # an integer too large for a float
        raise EvaluationError(f"'{name}': a number too large for a float") from None
    if type(r) is int and r.bit_length() > max_bits:
        raise _too_big(name, a, b, max_bits)
    return r


def _maybe_eval(t: Any, max_bits: int) -> Any:
    t = deref(t)
    if type(t) is Struct and t.name in _ARITH:
        return evaluate(t, max_bits)
    return t


def _compare(args: tuple[Any, ...], name: str, max_bits: int) -> tuple[Any, Any] | None:
    if len(args) != 2:
        raise EvaluationError(f"{name} takes 2 arguments")
    a = _maybe_eval(_bound(args[0], "left operand", name), max_bits)
    b = _maybe_eval(_bound(args[1], "right operand", name), max_bits)
    if _is_number(a) and _is_number(b):
        return a, b
    if type(a) is str and type(b) is str:
        return a, b
    return None  # values of different types are not ordered: the comparison fails


# --- comparison and unification ----------------------------------------------------------


def b_eq(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    if len(args) != 2:
        raise EvaluationError("eq takes 2 arguments")
    bits = ctx.limits.max_int_bits
    return bool(ctx.unify(_maybe_eval(args[0], bits), _maybe_eval(args[1], bits)))


def b_neq(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    if len(args) != 2:
        raise EvaluationError("neq takes 2 arguments")
    mark = len(ctx.trail)
    bits = ctx.limits.max_int_bits
    if ctx.unify(_maybe_eval(args[0], bits), _maybe_eval(args[1], bits)):
        undo(ctx.trail, mark)
        return False
    return True


def _cmp(
    name: str, op: Callable[[Any, Any], bool]
) -> Callable[[BuiltinContext, tuple[Any, ...]], bool]:
    def fn(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
        ab = _compare(args, name, ctx.limits.max_int_bits)
        return ab is not None and op(ab[0], ab[1])

    fn.__name__ = "b_" + name
    return fn


# --- lists ---------------------------------------------------------------------------------


def b_member(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool | Iterator[None]:
    if len(args) != 2:
        raise EvaluationError("member takes 2 arguments")
    x = args[0]
    lst = _bound(args[1], "list", "member")
    if type(lst) is JsonMap:
        lst = tuple(lst.keys())
    elif type(lst) is str:
        raise EvaluationError(f"member: expected a list, got {format_term(lst)}")
    elif type(lst) is not tuple:
        return False
    xv = deref(x)
    tx = type(xv)
    # a bound atom: a plain membership test, no choicepoint -- unless an item is an unbound
    # variable, which the atom binds (one solution per such item). Items of a list a rule
    # wrote (``?x in [?y, ?z]``) are variables: compare their values.
    if (tx is str or tx is int or tx is float) and not any(
        type(item) is Var and type(deref(item)) is Var for item in lst
    ):
        return any(same_value(xv, deref(item)) for item in lst)
    return _enumerate(ctx, x, lst)


def _enumerate(ctx: BuiltinContext, x: Any, lst: tuple[Any, ...]) -> Iterator[None]:
    trail = ctx.trail
    for item in lst:
        mark = len(trail)
        if ctx.unify(x, item):
            yield None
            undo(trail, mark)


def b_length(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    v = _bound(args[0], "list", "length")
    if type(v) not in (tuple, str, JsonMap):
        raise EvaluationError(f"length: expected a list, got {format_term(v)}")
    return bool(ctx.unify(args[1], len(v)))


# --- arithmetic ----------------------------------------------------------------------------


def _arith3(name: str, op: str) -> Callable[[BuiltinContext, tuple[Any, ...]], bool]:
    def fn(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
        if len(args) != 3:
            raise EvaluationError(f"{name} takes 3 arguments")
        return bool(ctx.unify(args[2], evaluate(Struct(op, (args[0], args[1])),
                                              ctx.limits.max_int_bits)))

    fn.__name__ = "b_" + name
    return fn


def b_is(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    if len(args) != 2:
        raise EvaluationError("is takes 2 arguments")
    return bool(ctx.unify(args[0], evaluate(args[1], ctx.limits.max_int_bits)))


# --- strings -------------------------------------------------------------------------------


def b_startswith(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    return _text(args[0], "startswith").startswith(_text(args[1], "startswith"))


def b_endswith(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    return _text(args[0], "endswith").endswith(_text(args[1], "endswith"))


def b_contains(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    hay = _bound(args[0], "first argument", "contains")
    if type(hay) is tuple:
        needle = resolve(args[1])
        return any(ctx.unify(item, needle) for item in hay)
    return _text(args[1], "contains") in _text(hay, "contains")


def _made(ctx: BuiltinContext, name: str, size: int, is_list: bool) -> None:
    """Account for a string of ``size`` characters (or a list of ``size`` items) that the
    built-in ``name`` is about to make: LimitExceeded past the bound on one value, or past
    the bound on all the values the query's built-ins make (many values each under the
    first bound, kept in tables or in the bindings of a deep recursion, would otherwise
    fill the memory as surely as one huge value)."""
    lim = ctx.limits
    if is_list:
        if size > lim.max_list_items:
            raise LimitExceeded("max_list_items", lim.max_list_items, f"a list made by {name}")
    elif size > lim.max_string_chars:
        raise LimitExceeded("max_string_chars", lim.max_string_chars,
                            f"a string made by {name}")
    ctx.made += size
    if ctx.made > lim.max_made:
        raise LimitExceeded("max_made", lim.max_made, f"the values made by {name} and others")


def b_lower(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    s = _text(args[0], "lower").lower()  # as long as its argument, or up to 3 times longer
    _made(ctx, "lower", len(s), False)
    return bool(ctx.unify(args[1], s))


def b_upper(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    s = _text(args[0], "upper").upper()
    _made(ctx, "upper", len(s), False)
    return bool(ctx.unify(args[1], s))


def _concat_text(v: Any) -> str:
    if type(v) is str:
        return v
    if _is_number(v):
        try:
            return repr(v)
        except ValueError:  # an integer past Python's limit on digits
            raise EvaluationError("concat: a number too large to write") from None
    raise EvaluationError(f"concat: expected strings, got {format_term(v)}")


def b_concat(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    if len(args) != 3:
        raise EvaluationError("concat takes 3 arguments")
    a = _bound(args[0], "first argument", "concat")
    b = _bound(args[1], "second argument", "concat")
    if type(a) is tuple and type(b) is tuple:
        _made(ctx, "concat", len(a) + len(b), True)  # counted before it is made
        return bool(ctx.unify(args[2], a + b))
    sa, sb = _concat_text(a), _concat_text(b)
    _made(ctx, "concat", len(sa) + len(sb), False)
    return bool(ctx.unify(args[2], sa + sb))


def b_split(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    if len(args) != 3:
        raise EvaluationError("split takes 3 arguments")
    sep = _text(args[1], "split")
    if not sep:
        raise EvaluationError("split: empty separator")
    s = _text(args[0], "split")
    _made(ctx, "split", s.count(sep) + 1, True)  # counted before it is made
    return bool(ctx.unify(args[2], tuple(s.split(sep))))


MAX_MATCH_INPUT = 8192  # longest string that glob/regex will look at


def b_glob(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    """``fnmatch.fnmatchcase``, with the pattern bounded and cached by :mod:`patterns`."""
    s = _text(args[1], "glob")
    if len(s) > MAX_MATCH_INPUT:
        raise EvaluationError(f"glob: input longer than {MAX_MATCH_INPUT} characters")
    return compile_glob(_text(args[0], "glob")).match(s) is not None


REGEX_TIMEOUT = 0.1  # seconds one regex match may take (less when the query has less left)


def b_regex(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    """Uses the ``regex`` module (not ``re``) for its match timeout: a pattern that
    backtracks catastrophically ends the decision as a deny naming the limit, instead of
    holding the server. A pattern too large to compile is refused (see :mod:`patterns`)."""
    s = _text(args[1], "regex")
    if len(s) > MAX_MATCH_INPUT:
        raise EvaluationError(f"regex: input longer than {MAX_MATCH_INPUT} characters")
    pattern = _text(args[0], "regex")
    timeout = REGEX_TIMEOUT
    left = ctx.time_left()
    if left is not None:
        timeout = max(0.001, min(timeout, left))
    try:
        return compile_regex(pattern).search(s, timeout=timeout) is not None
    except TimeoutError:
        raise LimitExceeded("timeout", f"{timeout:.3f} s", f"regex {pattern!r}") from None


@lru_cache(maxsize=512)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise EvaluationError(f"cidr: invalid network {cidr!r}") from None


def b_cidr(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    net = _network(_text(args[0], "cidr"))
    try:
        ip = ipaddress.ip_address(_text(args[1], "cidr"))
    except ValueError:
        return False  # a malformed address (request data) is in no network
    return ip.version == net.version and ip in net


def b_path_match(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    """``path_match("/orgs/:org/docs/:id", Path, ?Params)``: ``:name`` takes one segment,
    ``*`` any one segment, a final ``**`` the rest; Params are the ``:name`` values in order."""
    if len(args) not in (2, 3):
        raise EvaluationError("path_match takes 2 or 3 arguments")
    tmpl = _text(args[0], "path_match").strip("/").split("/")
    path = _text(args[1], "path_match").strip("/").split("/")
    params: list[str] = []
    for i, part in enumerate(tmpl):
        if part == "**" and i == len(tmpl) - 1:
            break
        if i >= len(path):
            return False
        seg = path[i]
        if part.startswith(":"):
            if not seg:
                return False
            params.append(seg)
        elif part != "*" and part != seg:
            return False
    else:
        if len(path) != len(tmpl):
            return False
    return len(args) == 2 or bool(ctx.unify(args[2], tuple(params)))


# --- time and the request --------------------------------------------------------------------


def b_now(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    return bool(ctx.unify(args[0], int(ctx.wall_clock())))


def _minutes(v: str) -> int:
    try:
        h, m = v.split(":")[:2]
        return int(h) * 60 + int(m)
    except ValueError:
        raise EvaluationError(f"time_between: expected HH:MM, got {v!r}") from None


def b_time_between(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    """``time_between(Start, End)``: epoch seconds (numbers), or times of day "HH:MM" in UTC
    (a range may wrap midnight: "22:00".."06:00")."""
    start = _bound(args[0], "start", "time_between")
    end = _bound(args[1], "end", "time_between")
    now = ctx.wall_clock()
    if _is_number(start) and _is_number(end):
        return bool(start <= now < end)
    t = time.gmtime(now)
    cur = t.tm_hour * 60 + t.tm_min
    s, e = _minutes(_text(start, "time_between")), _minutes(_text(end, "time_between"))
    return s <= cur < e if s <= e else (cur >= s or cur < e)


def lookup_path(data: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a dotted path: object keys, and list indexes in ASCII digits
    (``²`` and ``٣`` are digits to ``str.isdigit`` but not indexes). The decision cache keys
    on this same lookup."""
    cur = data
    for part in path.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return False, None
            cur = cur[part]
        elif isinstance(cur, (list, tuple)) and part.isascii() and part.isdigit():
            i = int(part)
            if i >= len(cur):
                return False, None
            cur = cur[i]
        else:
            return False, None
    return True, cur


def b_input(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    if len(args) != 2:
        raise EvaluationError("input takes 2 arguments")
    path = _text(args[0], "input")
    if ctx.input is None:
        return False
    found, value = lookup_path(ctx.input, path)
    return found and bool(ctx.unify(args[1], from_json(value)))


# built-ins whose arity is fixed (custom ones are not checked)
BUILTIN_ARITIES: dict[str, tuple[int, ...]] = {
    "eq": (2,), "neq": (2,), "gt": (2,), "gte": (2,), "lt": (2,), "lte": (2,),
    "member": (2,), "in": (2,), "length": (2,), "add": (3,), "sub": (3,), "mul": (3,),
    "div": (3,), "mod": (3,), "is": (2,), "startswith": (2,), "endswith": (2,),
    "contains": (2,), "lower": (2,), "upper": (2,), "concat": (3,), "split": (3,),
    "glob": (2,), "regex": (2,), "cidr": (2,), "path_match": (2, 3), "now": (1,),
    "time_between": (2,), "input": (2,),
}


DEFAULT_BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in [
        Builtin("eq", b_eq),
        Builtin("neq", b_neq),
        Builtin("gt", _cmp("gt", lambda a, b: a > b)),
        Builtin("gte", _cmp("gte", lambda a, b: a >= b)),
        Builtin("lt", _cmp("lt", lambda a, b: a < b)),
        Builtin("lte", _cmp("lte", lambda a, b: a <= b)),
        Builtin("member", b_member, det=False),
        Builtin("length", b_length),
        Builtin("add", _arith3("add", "+")),
        Builtin("sub", _arith3("sub", "-")),
        Builtin("mul", _arith3("mul", "*")),
        Builtin("div", _arith3("div", "/")),
        Builtin("mod", _arith3("mod", "%")),
        Builtin("is", b_is),
        Builtin("startswith", b_startswith),
        Builtin("endswith", b_endswith),
        Builtin("contains", b_contains),
        Builtin("lower", b_lower),
        Builtin("upper", b_upper),
        Builtin("concat", b_concat),
        Builtin("split", b_split),
        Builtin("glob", b_glob),
        Builtin("regex", b_regex),
        Builtin("cidr", b_cidr),
        Builtin("path_match", b_path_match),
        Builtin("now", b_now, volatile=True),
        Builtin("time_between", b_time_between, volatile=True),
        Builtin("input", b_input, request=True),
    ]
}
DEFAULT_BUILTINS["in"] = DEFAULT_BUILTINS["member"]


def builtin_names() -> list[str]:
    return sorted(DEFAULT_BUILTINS)
