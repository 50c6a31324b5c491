"""Locust load runs against the saga that end with the harness's consistency verdict.

`load/locustfile.py` is the entry point (run it with `locust -f load/locustfile.py`); the other
modules are plain Python so the pure parts can be unit-tested without importing Locust (which
monkey-patches the process with gevent).
"""
