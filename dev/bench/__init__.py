"""Benchmark harnesses behind ``forewarn bench`` (NAB, exhaustion lead time)."""
