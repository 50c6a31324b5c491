"""The machine's PostgreSQL for tests: a schema per test (saga_pg_<random>), dropped afterwards.

SAGA_TEST_POSTGRES names the server (default: 127.0.0.1:5432, user postgres, trust auth, as
on the development machines and CI); tests that need it skip, with the reason, when it is down.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from system.stores.sqlite import SqlTables

URL = os.environ.get("SAGA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
_created: list[str] = []


def reachable() -> str | None:
    """None if the server answers, else why not."""
    from system.stores.postgres import connect

    try:
        with connect(URL):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure is a reason to skip
        return f"PostgreSQL not reachable at {URL}: {exc}"


def new_schema() -> str:
    schema = f"saga_pg_{uuid.uuid4().hex[:12]}"
    _created.append(schema)
    return schema


def open_store(tables: SqlTables, tmp_path: Path | None = None, schema: str | None = None):
    from system.stores.postgres import PgStore

    return PgStore.open(URL, schema or new_schema(), tables)


@pytest.fixture
def pg_schemas() -> Iterator[list[str]]:
    """Schemas the test makes through new_schema/open_store, all dropped at its end."""
    why = reachable()
    if why:
        pytest.skip(why)
    start = len(_created)
    yield _created
    from system.stores.postgres import drop_schema

    for schema in _created[start:]:
        drop_schema(URL, schema)
    del _created[start:]
