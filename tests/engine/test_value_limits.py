"""The values built-ins make are bounded (security review, finding 5): strings, lists and
integers, one by one and in all per query; and the patterns of ``regex`` and ``glob``
are bounded before they are compiled. Exceeding a bound ends the query naming it."""

from __future__ import annotations

import pytest

from siamese import LimitExceeded, RuleEngine
from siamese.engine import Limits, patterns
from siamese.engine.errors import EvaluationError
from siamese.engine.patterns import (
    MAX_PATTERN_CHARS,
    MAX_PATTERN_SIZE,
    check_regex,
    compile_glob,
    compile_regex,
    pattern_size,
)


def engine(text: str = "", tabling: bool = True, **limits: int) -> RuleEngine:
    e = RuleEngine(timeout_ms=None, tabling=tabling)
    if limits:
        e.limits = Limits(**{**e.limits.__dict__, **limits})
    if text:
        e.load_text(text, "t.rules")
    return e


def limit_of(e: RuleEngine, goal: str) -> str:
    with pytest.raises(LimitExceeded) as err:
        e.solve(goal)
    return err.value.limit


# --- strings, lists, integers -------------------------------------------------------------

DOUBLING = """
dbl(?s, ?s).
dbl(?s, ?r) :- concat(?s, ?s, ?t), dbl(?t, ?r).
squares(?x, ?x).
squares(?x, ?r) :- ?y is ?x * ?x, squares(?y, ?r).
ldbl(?l, ?l).
ldbl(?l, ?r) :- concat(?l, ?l, ?m), ldbl(?m, ?r).
"""


@pytest.mark.parametrize(
    ("goal", "limit"),
    [
        ("dbl(a, ?r), ?r == b", "max_string_chars"),  # killed the server (out of memory)
        ("squares(3, ?r), ?r == 0", "max_int_bits"),  # held the event loop for 30 s
        ("ldbl([a], ?r), ?r == b", "max_list_items"),
    ],
)
def test_doubling_in_a_recursive_rule_ends_at_a_bound(goal: str, limit: str) -> None:
    assert limit_of(engine(DOUBLING), goal) == limit


def test_each_builtin_that_makes_a_value_is_bounded() -> None:
    e = engine(max_string_chars=10, max_list_items=3, max_int_bits=64)
    assert e.solve('concat("12345", "67890", ?s)') == [{"?s": "1234567890"}]
    assert limit_of(e, 'concat("12345", "678901", ?s)') == "max_string_chars"
    assert limit_of(e, "concat(123456, 78901, ?s)") == "max_string_chars"
    assert limit_of(e, "concat([a, b], [c, d], ?l)") == "max_list_items"
    assert e.solve('split("a,b,c", ",", ?l)') == [{"?l": ["a", "b", "c"]}]
    assert limit_of(e, 'split("a,b,c,d", ",", ?l)') == "max_list_items"
    assert e.solve('upper("ß", ?s)') == [{"?s": "SS"}]
    assert limit_of(e, 'upper("ßßßßßß", ?s)') == "max_string_chars"  # longer than its input
    assert limit_of(e, 'lower("ABCDEFGHIJK", ?s)') == "max_string_chars"
    big = 2**63
    assert e.solve(f"?x is {big} - 1") == [{"?x": big - 1}]
    assert limit_of(e, f"?x is {big} + {big}") == "max_int_bits"
    assert limit_of(e, f"?x is {big} * 4") == "max_int_bits"
    assert limit_of(e, f"mul({big}, {big}, ?x)") == "max_int_bits"
    assert limit_of(e, f"add({big}, {big}, ?x)") == "max_int_bits"
    assert limit_of(e, f"?x == {big} * {big}") == "max_int_bits"  # arithmetic in eq
    assert limit_of(e, f"{big} * {big} > 1") == "max_int_bits"  # and in comparisons


def test_a_product_is_refused_before_it_is_computed() -> None:
    e = engine(max_int_bits=4096)
    x = 2**4000
    assert limit_of(e, f"?y is {x} * {x}") == "max_int_bits"
    assert e.solve(f"?y is {2**2000} * {2**2000}") == [{"?y": 2**4000}]


def test_quotients_of_large_integers_are_exact_and_overflow_is_an_error() -> None:
    e = engine()
    n = 123456789012345678901234567890
    assert e.solve(f"?x is {n * 7} / 7") == [{"?x": n}]
    with pytest.raises(EvaluationError, match="too large for a float"):
        e.solve(f"?x is {2**2000} / 3")
    with pytest.raises(EvaluationError, match="too large for a float"):
        e.solve(f"?x is {2**2000} + 0.5")


def test_the_values_made_by_one_query_are_bounded_in_all() -> None:
    """Many strings each under the bound on one, kept in the bindings of a recursion (or in
    tables), would fill the memory too."""
    e = engine(
        "grow(0, ?s).\n"
        "grow(?n, ?s) :- ?n > 0, concat(?s, x, ?t), ?m is ?n - 1, grow(?m, ?t).\n"
        "start(?n) :- concat(\"\", \"" + "y" * 5000 + "\", ?s), grow(?n, ?s).\n",
        tabling=False, max_made=200_000,
    )
    assert e.solve("start(30)")
    assert limit_of(e, "start(60)") == "max_made"
    assert e.solve("start(30)")  # per query: the next one starts afresh


# --- regex and glob patterns ---------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "a{1000000000}",  # 16 GB in the review
        "a{1000000}",
        "(?:(?:a{100}){100}){100}",  # nested repeats multiply
        "(?:a{100}){0,1000}",
        ".{0,20000}",
        "(?x) (?: a{100} ) {100}",  # verbose mode: the same pattern, spaced
        "(?V1)(?:[[a-z]--[aeiou]]{200}){100}",  # version 1 sets
        "(?i)(?:ß{100}){100}",
    ],
)
def test_a_regex_too_large_to_compile_is_refused_uncompiled(pattern: str) -> None:
    assert pattern_size(pattern) > MAX_PATTERN_SIZE
    why = check_regex(pattern)
    assert why is not None and "too large" in why
    with pytest.raises(EvaluationError, match=r"regex: pattern .* too large"):
        compile_regex(pattern)
    e = engine()
    with pytest.raises(EvaluationError, match="too large"):
        e.solve(f'regex("{pattern}", "a")')


@pytest.mark.parametrize(
    ("pattern", "size"),
    [
        ("abc", 4),
        (r"^\d{1,3}(\.\d{1,3}){3}$", 29),
        ("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", 108),
        ("a{3,}", 5),
        ("(?:a|b){e<=2}", 7),
    ],
)
def test_everyday_patterns_are_small(pattern: str, size: int) -> None:
    assert pattern_size(pattern) == size
    assert check_regex(pattern) is None


def test_patterns_too_long_or_invalid_are_refused() -> None:
    assert "longer than" in str(check_regex("a" * (MAX_PATTERN_CHARS + 1)))
    assert "invalid pattern" in str(check_regex("(a"))
    assert "invalid pattern" in str(check_regex("a{2,1}"))
    assert "nested too deeply" in str(check_regex("(" * 400 + ")" * 400))
    with pytest.raises(EvaluationError, match="glob: pattern longer than"):
        compile_glob("*" * (MAX_PATTERN_CHARS + 1))
    assert compile_glob("*.example.com").match("api.example.com")
    e = engine()
    with pytest.raises(EvaluationError, match="glob: pattern longer than"):
        e.solve(f'glob("{"?" * (MAX_PATTERN_CHARS + 1)}", "a")')


def test_the_pattern_cache_is_bounded_by_entries_and_by_size() -> None:
    patterns._cache.clear()
    for i in range(patterns.CACHE_ENTRIES + 50):
        compile_regex(f"^v{i}$")
    assert len(patterns._cache.items) == patterns.CACHE_ENTRIES
    patterns._cache.clear()
    for i in range(40):  # each nearly as large as a pattern may be
        compile_regex(f"^{i}a{{{MAX_PATTERN_SIZE - 20}}}$")
    assert patterns._cache.total <= patterns.CACHE_SIZE
    assert len(patterns._cache.items) <= patterns.CACHE_SIZE // (MAX_PATTERN_SIZE - 20)
    # a refusal is remembered (no parse the next time) and still refused
    for _ in range(2):
        with pytest.raises(EvaluationError, match="too large"):
            compile_regex("a{1000000000}")
    # and nothing is left in the regex module's own cache
    import regex

    assert not any(k[0] == "^0a{9980}$" for k in regex._main._cache)  # type: ignore[attr-defined]


def test_the_regex_parser_internals_we_rely_on_are_there() -> None:
    """pattern_size reads the regex module's parse tree (not public API): a new version of
    the module that changes it must fail here, not let patterns through unmeasured."""
    core = patterns._regex_core
    tree = patterns._parse("(?:a{7}|b)c")
    assert isinstance(tree, core.RegexBase)
    assert pattern_size("(?:a{7}|b)c") > 7
