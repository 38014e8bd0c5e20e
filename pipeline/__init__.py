"""Bytewax wiring only: sources, routing, per-series state, sinks. Logic lives in plain modules."""
