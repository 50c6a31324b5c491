"""Traces of a run (issue #18): the OTLP/HTTP receiver, traces.jsonl, per-order waterfalls."""
