"""The HTTP server: AuthZEN, gateway forward-auth and OPA-compatible routes, health, metrics."""

from .app import create_app

__all__ = ["create_app"]
