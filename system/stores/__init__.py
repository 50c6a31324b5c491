"""Adapters of the messaging core's store port (system/messaging/ports.py): SQLite and in-memory."""
