"""Siamese: a policy decision point on an async backward-chaining logic engine."""

from .engine.compat import PrologError, Term, UnificationError, Unificator, Variable
from .engine.errors import EngineError, LimitExceeded, PolicySyntaxError
from .rule_engine import RuleEngine

__version__ = "0.1.0"
__all__ = [
    "EngineError",
    "LimitExceeded",
    "PolicySyntaxError",
    "PrologError",
    "RuleEngine",
    "Term",
    "UnificationError",
    "Unificator",
    "Variable",
]
