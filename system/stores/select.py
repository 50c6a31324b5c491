"""Which adapter of the store port a service process runs on: SAGA_STORE decides."""

from __future__ import annotations

from system.config import ServiceConfig
from system.stores.sqlite import SqliteStore, SqlStore, SqlTables


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
