"""Parser (and printer) of the ``*.rules`` text syntax (SPEC §2).

Grammar, informally::

    program    := clause*
    clause     := annotation* head ( '.' | ':-' body '.' )
    annotation := '@' name '(' string ')'           any name; id and description are known
    head       := name [ '(' terms ')' ]          a quoted string may name it too: "a b"(x)
    body       := conj ( ';' conj )*
    conj       := goal ( ',' goal )*
    goal       := 'not' goal
                | '(' body ')'                      a disjunction, or an inlined conjunction
                | expr ( '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'is' ) expr
                | name [ '(' terms ')' ]
    expr       := arithmetic over terms: + - * / // %, parentheses, unary minus
    term       := number | string | name | ?var | _ | '[' terms ']' | name '(' terms ')'

Decisions that are not obvious:

* Infix built-ins become ordinary goals: ``A == B`` is ``eq(A, B)``, ``!=`` ``neq``, ``<`` ``lt``,
  ``<=`` ``lte``, ``>`` ``gt``, ``>=`` ``gte``, ``X in L`` ``member(X, L)`` and ``?x is E``
  ``is(?x, E)``. Arithmetic is left as a tree of Structs named ``+ - * / // %``; a unary minus
  is ``-(0, X)`` unless it applies to a number literal. The built-ins evaluate the trees.
  Within a goal, call arguments may be expressions too (``?m is max(?a + 1, ?b)``); in heads
  and facts, arguments are plain terms.
* ``%`` both starts a comment and is the modulo operator. It is modulo only when it stands
  between two operands inside an arithmetic expression: to the right of ``is``/``in``/a
  comparison, or before a comparison on the same line (``?n % 2 == 0``). Anywhere else it
  starts a comment, so ``foo(a).  % note`` and ``( a(?x)   % first case`` read as comments.
* Ground facts (no variables, no annotations) are grouped into :class:`FactBlock` items, one
  per predicate and arity in a file (see :class:`ProgramBuilder`); every other clause is a
  :class:`Clause`.
* Speed: most lines of a large data file are simple facts (``owner("doc1", "u2").``). One
  compiled regular expression recognises such lines over the whole text and converts them
  directly; everything else goes through the tokenizer and the recursive-descent parser. A
  simple-fact line in the middle of a clause (say the last goal of a rule written one goal a
  line) is recognised as such and parsed by the full parser.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import NoReturn

from .ast import BodyItem, Clause, FactBlock, Goal, Not, Or, ProgramItem
from .errors import PolicyErrors, PolicySyntaxError
from .lexer import ADD_OPS, INFIX, MUL_OPS, WORD_INFIX, Token, eof_token, tokenize, tokenize_line
from .terms import Struct, Term, Var, is_ground

__all__ = [
    "ProgramBuilder",
    "parse_goals",
    "parse_program",
    "parse_term",
]

_intern = sys.intern

# --- the recursive-descent parser --------------------------------------------------------

# tokens after a closing ')' that show a '(' at the start of a goal opened an expression
_EXPR_FOLLOW = frozenset(INFIX) | ADD_OPS | MUL_OPS


class _Failure(Exception):
    """A syntax error inside one clause; ``resume_here`` says recovery need not skip."""

    def __init__(self, error: PolicySyntaxError, resume_here: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.resume_here = resume_here


def _describe(tok: Token) -> str:
    if tok[0] == "eof":
        return "end of input"
    return repr(tok[4]) if "'" not in tok[4] else f'"{tok[4]}"'


MAX_NESTING = 64  # lists in lists in ..., parentheses in parentheses in ... (each level
# costs the recursive-descent parser several Python frames)


class _Parser:
    def __init__(self, tokens: list[Token], source: str, line_text: Callable[[int], str]) -> None:
        self.toks = tokens
        self.i = 0
        self.tok = tokens[0]
        self.source = source
        self.line_text = line_text
        self.vars: dict[str, Var] = {}
        self.depth = 0  # nesting of terms, expressions and goals (bounded: no RecursionError)

    # -- helpers

    def advance(self) -> Token:
        tok = self.tok
        self.i += 1
        self.tok = self.toks[self.i]
        return tok

    def peek_kind(self, k: int = 1) -> str:
        j = min(self.i + k, len(self.toks) - 1)
        return self.toks[j][0]

    def error(self, line: int, col: int, message: str) -> PolicySyntaxError:
        return PolicySyntaxError(self.source, line, col, message, self.line_text(line))

    def fail(self, tok: Token, message: str, resume_here: bool = False) -> NoReturn:
        raise _Failure(self.error(tok[2], tok[3], message), resume_here)

    def expected(self, what: str) -> NoReturn:
        tok = self.tok
        if tok[0] == "err":
            self.fail(tok, tok[1])
        self.fail(tok, f"expected {what} but found {_describe(tok)}")

    def expect(self, kind: str, what: str) -> Token:
        if self.tok[0] != kind:
            self.expected(what)
        return self.advance()

    def missing_end(self, prev: Token, message: str) -> NoReturn:
        """Report a clause that stops without '.', pointing just after its last token."""
        col = prev[3] + len(prev[4])
        raise _Failure(self.error(prev[2], col, message), resume_here=True)

    def matching_close(self, i: int) -> int | None:
        """Index of the ')' that closes the '(' at index i, or None."""
        depth = 0
        toks = self.toks
        for j in range(i, len(toks)):
            kind = toks[j][0]
            if kind == "(":
                depth += 1
            elif kind == ")":
                depth -= 1
                if depth == 0:
                    return j
            elif kind in (".", "eof"):
                return None
        return None

    def var(self, name: str) -> Var:
        v = self.vars.get(name)
        if v is None:
            v = self.vars[name] = Var(name)
        return v

    # -- program

    def program(self, out: list[Clause], errors: list[PolicySyntaxError]) -> None:
        while self.tok[0] != "eof":
            try:
                out.append(self.clause())
            except _Failure as f:
                errors.append(f.error)
                if not f.resume_here:
                    self.skip_clause()

    def skip_clause(self) -> None:
        while self.tok[0] not in (".", "eof"):
            self.advance()
        if self.tok[0] == ".":
            self.advance()

    def clause(self) -> Clause:
        self.vars = {}
        first_at = self.tok
        annotations = self.annotations()
        if annotations and self.tok[0] == "eof":
            self.fail(
                first_at, f"annotation '@{next(iter(annotations))}' is not followed by a clause"
            )
        start = self.tok
        head = self.head()
        prev = self.toks[self.i - 1]
        body: tuple[BodyItem, ...] = ()
        if self.tok[0] == ":-":
            self.advance()
            body = self.body()
            self.end_of_clause("',' or '.' after goal")
        elif self.tok[0] == ".":
            self.advance()
        elif self.tok[0] == "eof" or self.tok[2] > prev[2]:
            self.missing_end(prev, "missing '.' at end of clause")
        else:
            self.expected("'.' or ':-' after the head")
        return Clause(
            head,
            body,
            id=annotations.get("id"),
            description=annotations.get("description"),
            source=self.source,
            line=start[2],
            col=start[3],
            annotations=annotations,
        )

    def end_of_clause(self, what: str) -> None:
        tok = self.tok
        if tok[0] == ".":
            self.advance()
            return
        prev = self.toks[self.i - 1]
        if tok[0] in ("eof", "@"):
            self.missing_end(prev, "missing '.' at end of clause")
        self.expected(what)

    def annotations(self) -> dict[str, str]:
        found: dict[str, str] = {}
        while self.tok[0] == "@":
            self.advance()
            if self.tok[0] != "name":
                self.expected("an annotation name after '@'")
            name_tok = self.advance()
            name = name_tok[1]
            self.expect("(", f"'(' after '@{name}'")
            if self.tok[0] not in ("str", "name"):
                self.expected(f"a string value for '@{name}'")
            value = str(self.advance()[1])
            self.expect(")", "')' after the annotation value")
            if name in found:
                self.fail(name_tok, f"duplicate annotation '@{name}'")
            found[name] = value
        return found

    def head(self) -> Struct:
        tok = self.tok
        kind = tok[0]
        if kind == "var":
            self.fail(tok, "variables cannot be predicate names")
        if kind == "name":
            first = tok[1][0]
            if "a" <= first <= "z":
                self.advance()
                if self.tok[0] == "(":
                    return Struct(tok[1], self.args())
                return Struct(tok[1], ())
            if tok[1] != "_":
                self.name_term(tok)  # reports the bad name
        if kind == "str" and self.peek_kind() == "(":
            self.advance()
            return Struct(tok[1], self.args())
        self.expected("a fact or rule")

    # -- bodies and goals

    def body(self) -> tuple[BodyItem, ...]:
        first = self.tok
        branches = self.disjunction()
        if len(branches) == 1:
            return branches[0]
        return (Or(tuple(branches), first[2], first[3]),)

    def disjunction(self) -> list[tuple[BodyItem, ...]]:
        branches = [self.conjunction()]
        while self.tok[0] == ";":
            self.advance()
            branches.append(self.conjunction())
        return branches

    def conjunction(self) -> tuple[BodyItem, ...]:
        items = self.goal()
        while self.tok[0] == ",":
            self.advance()
            items.extend(self.goal())
        return tuple(items)

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(self.tok, f"nesting deeper than {MAX_NESTING} levels")

    def goal(self) -> list[BodyItem]:
        self.nest()
        try:
            return self._goal()
        finally:
            self.depth -= 1

    def _goal(self) -> list[BodyItem]:
        tok = self.tok
        kind = tok[0]
        if kind == "name" and tok[1] == "not":
            self.advance()
            if self.tok[0] in (",", ".", ";", ")", "eof"):
                self.expected("a goal after 'not'")
            return [Not(tuple(self.goal()), tok[2], tok[3])]
        if kind == "(":
            close = self.matching_close(self.i)
            if close is None or not self.continues_expression(self.toks[close + 1]):
                return self.group()
        return [self.simple_goal()]

    @staticmethod
    def continues_expression(tok: Token) -> bool:
        """Whether ``tok``, after a parenthesis, shows it closed an arithmetic expression."""
        return tok[0] in _EXPR_FOLLOW or (tok[0] == "name" and tok[1] in WORD_INFIX)

    def group(self) -> list[BodyItem]:
        open_tok = self.advance()
        branches = self.disjunction()
        if self.tok[0] != ")":
            self.expected("',', ';' or ')'")
        self.advance()
        if len(branches) == 1:
            return list(branches[0])
        return [Or(tuple(branches), open_tok[2], open_tok[3])]

    def simple_goal(self) -> Goal:
        tok = self.tok
        start = self.i
        if tok[0] == "var" and self.peek_kind() == "(":
            self.fail(tok, "variables cannot be predicate names")
        if tok[0] in (",", ".", ";", ")", "eof", "err", ":-"):
            self.expected("a goal")
        left = self.expr()
        op = self.tok
        name = INFIX.get(op[0])
        if name is None and op[0] == "name":
            name = WORD_INFIX.get(op[1])
        if name is not None:
            self.advance()
            right = self.expr()
            return Goal(Struct(name, (left, right)), tok[2], tok[3])
        consumed = self.i - start
        if consumed == 1 and tok[0] == "name":
            if isinstance(left, Var):
                self.fail(tok, "expected a goal but found '_'")
            return Goal(Struct(tok[1], ()), tok[2], tok[3])
        if (
            tok[0] in ("name", "str")
            and type(left) is Struct
            and self.toks[start + 1][0] == "("
            and self.matching_close(start + 1) == self.i - 1
        ):
            return Goal(left, tok[2], tok[3])
        if consumed == 1 and tok[0] == "var":
            self.expected(f"a comparison, 'in' or 'is' after {tok[4]!r}")
        if consumed == 1:
            self.fail(tok, f"expected a goal but found {_describe(tok)}")
        self.expected("a comparison, 'in' or 'is' after the expression")

    # -- arithmetic expressions

    def expr(self) -> Term:
        left = self.mul_expr()
        while self.tok[0] in ADD_OPS:
            op = self.advance()[0]
            left = Struct(op, (left, self.mul_expr()))
        return left

    def mul_expr(self) -> Term:
        left = self.unary()
        while self.tok[0] in MUL_OPS:
            op = self.advance()[0]
            left = Struct(op, (left, self.unary()))
        return left

    def unary(self) -> Term:
        self.nest()
        try:
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> Term:
        kind = self.tok[0]
        if kind == "-":
            self.advance()
            if self.tok[0] == "num":
                return -self.advance()[1]
            return Struct("-", (0, self.unary()))
        if kind == "(":
            self.advance()
            inner = self.expr()
            self.expect(")", "')'")
            return inner
        return self.term(in_expr=True)

    # -- terms

    def term(self, in_expr: bool = False) -> Term:
        """A term; inside an expression, arguments and list items may be expressions too."""
        self.nest()
        try:
            return self._term(in_expr)
        finally:
            self.depth -= 1

    def _term(self, in_expr: bool) -> Term:
        tok = self.tok
        kind = tok[0]
        if kind == "num":
            self.advance()
            return tok[1]
        if kind == "str":
            self.advance()
            if self.tok[0] == "(":
                return Struct(tok[1], self.args(in_expr))
            return tok[1]
        if kind == "name":
            return self.name_term(tok, in_expr)
        if kind == "var":
            self.advance()
            if self.tok[0] == "(":
                self.fail(tok, "variables cannot be predicate names")
            return self.var(tok[1])
        if kind == "[":
            return self.list_term(in_expr)
        if kind == "-":
            self.advance()
            if self.tok[0] == "num":
                return -self.advance()[1]
            self.expected("a number after '-'")
        self.expected("a term")

    def name_term(self, tok: Token, in_expr: bool = False) -> Term:
        text = tok[1]
        first = text[0]
        if "a" <= first <= "z":
            self.advance()
            if self.tok[0] == "(":
                return Struct(text, self.args(in_expr))
            if text == "true":
                return True
            if text == "false":
                return False
            return text
        if text == "_":
            self.advance()
            return Var("_")
        if first == "_":
            self.fail(tok, f"unexpected name {text!r}: only '_' alone is an anonymous variable")
        self.fail(
            tok,
            f"unexpected name {text!r}: variables start with '?' (?{text}), "
            f'and strings that start with a capital letter are quoted ("{text}")',
        )

    def args(self, in_expr: bool = False) -> tuple[Term, ...]:
        return self.items(")", in_expr)

    def list_term(self, in_expr: bool = False) -> tuple[Term, ...]:
        return self.items("]", in_expr)

    def items(self, close: str, in_expr: bool) -> tuple[Term, ...]:
        """Comma-separated terms after an opening bracket, up to ``close``."""
        self.advance()  # '(' or '['
        if self.tok[0] == close:
            self.advance()
            return ()
        item = self.expr if in_expr else self.term
        items = [item()]
        while self.tok[0] == ",":
            self.advance()
            items.append(item())
        if self.tok[0] != close:
            self.expected(f"',' or '{close}'")
        self.advance()
        return tuple(items)


# --- the fast path for simple ground facts ----------------------------------------------

# A line holding exactly one fact whose arguments are plain strings, bare atoms or numbers,
# optionally followed by a comment. Each argument is its own group (up to _FAST_ARITY), so
# no second pass is needed to split them; longer facts take the ordinary path.
_FAST_ARITY = 8
_FAST_ARG = r"""("[^"\\\n]*"|'[^'\\\n]*'|[a-z][A-Za-z0-9_]*|-?[0-9]+(?:\.[0-9]+)?)"""
_FAST_SEP = r"[ \t]*,[ \t]*"
_FAST_LINE_RE = re.compile(
    r"^[ \t]*([a-z][A-Za-z0-9_]*)\([ \t]*"
    + _FAST_ARG
    + "".join("(?:" + _FAST_SEP + _FAST_ARG for _ in range(_FAST_ARITY - 1))
    + ")?" * (_FAST_ARITY - 1)
    + r"[ \t]*\)[ \t]*\.[ \t\r]*(?:[#%][^\n]*)?$",
    re.MULTILINE,
)
_CONSTANTS: dict[str, bool] = {"true": True, "false": False}


def _fast_value(raw: str) -> Term:
    c = raw[0]
    if c == '"' or c == "'":
        return _intern(raw[1:-1])
    if "a" <= c <= "z":
        b = _CONSTANTS.get(raw)
        return _intern(raw) if b is None else b
    return float(raw) if "." in raw else int(raw)


class ProgramBuilder:
    """Collects the items of one file in source order, ground facts in FactBlocks.

    All ground facts of one predicate and arity go to a single block, placed where the first
    of them was, and keep their order. Facts are tried before rules whatever their place in
    the file (SPEC §4), so nothing depends on where a block sits; one block per predicate
    keeps interleaved data (``user(a). status(a, ok). user(b). ...``) as compact as sorted data.
    """

    __slots__ = ("_blocks", "_last", "items", "source")

    def __init__(self, source: str) -> None:
        self.items: list[ProgramItem] = []
        self.source = source
        self._blocks: dict[tuple[str, int], FactBlock] = {}
        self._last: FactBlock | None = None

    def add_row(self, name: str, row: tuple[Term, ...], line: int) -> None:
        """Add a ground fact."""
        block = self._last
        if block is None or block.name != name or len(block.rows[0]) != len(row):
            key = (name, len(row))
            block = self._blocks.get(key)
            if block is None:
                block = self._blocks[key] = FactBlock(name, [], [], self.source)
                self.items.append(block)
            self._last = block
        block.rows.append(row)
        block.lines.append(line)

    def add_clause(self, clause: Clause) -> None:
        """Add a clause; a ground fact without annotations becomes a row."""
        if not clause.body and not clause.annotations and is_ground(clause.head):
            self.add_row(clause.head.name, clause.head.args, clause.line)
        else:
            self.items.append(clause)


class _Lines:
    """The text of a line by number, split only when an error needs it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: list[str] | None = None

    def __call__(self, line: int) -> str:
        if self.lines is None:
            self.lines = self.text.split("\n")
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1].rstrip("\r")
        return ""


def parse_program(text: str, source: str = "<input>") -> list[ProgramItem]:
    """Parse a ``*.rules`` text into clauses and fact blocks, in source order.

    Raises :class:`PolicySyntaxError` for one error, :class:`PolicyErrors` for several
    (the parser recovers at the next '.' to report every bad clause).
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    builder = ProgramBuilder(source)
    errors: list[PolicySyntaxError] = []
    line_text = _Lines(text)
    pending: list[Token] = []  # tokens of lines that are not simple facts, not yet parsed

    def flush() -> None:
        if pending:
            pending.append(eof_token(pending, "", 0))
            parsed: list[Clause] = []
            _Parser(pending, source, line_text).program(parsed, errors)
            for clause in parsed:
                builder.add_clause(clause)
            pending.clear()

    lineno = 0
    pos = 0  # start of the first line not yet handled
    add_row = builder.add_row
    for m in _FAST_LINE_RE.finditer(text):
        start = m.start()
        if start != pos:
            for line in text[pos:start].split("\n")[:-1]:
                lineno += 1
                tokenize_line(line, lineno, pending)
        lineno += 1
        pos = m.end() + 1
        if pending:
            if pending[-1][0] != ".":  # inside a clause: let the parser see this line
                tokenize_line(m.group(), lineno, pending)
                continue
            flush()
        g = m.groups()
        if g[2] is None:
            row: tuple[Term, ...] = (_fast_value(g[1]),)
        elif g[3] is None:
            row = (_fast_value(g[1]), _fast_value(g[2]))
        else:
            row = tuple([_fast_value(a) for a in g[1:] if a is not None])
        add_row(_intern(g[0]), row, lineno)
    if pos < len(text):
        for line in text[pos:].split("\n"):
            lineno += 1
            tokenize_line(line, lineno, pending)
    flush()
    _raise_errors(errors)
    return builder.items


def _raise_errors(errors: list[PolicySyntaxError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise PolicyErrors(list(errors))


def _single_parser(text: str, source: str) -> _Parser:
    return _Parser(tokenize(text), source, _Lines(text))


def parse_goals(text: str, source: str = "<query>") -> tuple[list[BodyItem], dict[str, Var]]:
    """Parse a query such as ``ancestor(?a, grace), not suspended(?a)`` (a '.' may end it).

    Returns the body items and the query's named variables by name (``{"?a": Var}``).
    """
    parser = _single_parser(text, source)
    try:
        items = parser.body()
        if parser.tok[0] == ".":
            parser.advance()
        if parser.tok[0] != "eof":
            parser.expected("',' or the end of the query")
    except _Failure as f:
        raise f.error from None
    return list(items), dict(parser.vars)


def parse_term(text: str, source: str = "<term>") -> Term:
    """Parse a single term, e.g. ``[a, f(?x, 2)]``."""
    parser = _single_parser(text, source)
    try:
        term = parser.term()
        if parser.tok[0] != "eof":
            parser.expected("the end of the term")
    except _Failure as f:
        raise f.error from None
    return term
