"""Which adapter of the store port a service process runs on: SAGA_STORE decides."""

from __future__ import annotations

from functools import partial

from system.config import ServiceConfig
from system.stores.sqlite import SqliteStore, SqlStore, SqlTables, commit_group
from system.stores.threads import CommitGroup


def open_store(config: ServiceConfig, tables: SqlTables) -> SqlStore:
    """SQLite under the data dir (the default), or the service's schema in PostgreSQL."""
    if config.store_url:
        from system.stores.postgres import PgStore, schema_name  # psycopg only when asked for

        return PgStore.open(config.store_url, schema_name(config.service), tables)
    return SqliteStore.open(config.database, tables)


def describe(config: ServiceConfig) -> str:
    if config.store_url:
        from system.stores.postgres import schema_name
        from system.urls import redact_url

        return f"PostgreSQL {redact_url(config.store_url)} schema {schema_name(config.service)}"
    return f"SQLite {config.database}"


def commit_group_of(store: SqlStore) -> CommitGroup | None:
    """How the store's thread may commit several calls at once: SQLite's savepoint groups (one
    writer, one fsync per group). PostgreSQL commits each on its own thread and connection; its
    server groups the WAL flushes of concurrent commits itself."""
    if isinstance(store, SqliteStore):
        return partial(commit_group, store.conn)
    return None
