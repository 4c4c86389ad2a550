"""The engine: the machinery that carries out remote work, knowing nothing of what the work is.

`leases` (claim, fencing, outcomes), `schedule` (refresh schedule, backoff), `budget` (the
request rate shared by every poller), `health` (the circuit breaker and the poller's client),
`registry` (the table of handlers and start-up jobs that the apps fill in), `loop` (the poller
process). Handlers live in `jobs.handlers` (and `costs.handlers`) and import the engine; the
engine never imports them (tests/test_import_rules.py). Design: docs/architecture.md.
"""
