"""Decisions: requests and decisions, the authorizer (allow/deny/explain), the TTL cache."""
