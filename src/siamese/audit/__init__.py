"""The audit trail: decision events, the JSON-lines sink, the queue that feeds it, search
and replay. Knows the decision models only."""
