"""Log intelligence and incident reports: redaction, log templates, incident grouping, LLM reports.

Everything here is plain classes (no Bytewax, no Kafka) so the dataflow and the demo wire them in and
tests drive them directly. The LLM is advisory only: reports describe, they never choose an action.
"""
