"""Siamese: a policy decision point on an async backward-chaining logic engine."""

from .engine import EngineError, LimitExceeded, PolicySyntaxError
from .engine.compat import PrologError, Term, UnificationError, Unificator, Variable
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
