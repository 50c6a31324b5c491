"""The broker permissions derived from the contract (system/access.py)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from system.access import ACCOUNTS, HARNESS, TOPOLOGY, definitions, grant, password_hash, user_name
from system.contracts import (
    ALL_ROUTING_KEYS,
    BINDINGS,
    COMMANDS,
    PUBLISHES,
    REPLIES,
    ROUTING_KEYS,
    SERVICES,
)
from system.styles import BY_NAME, Style


def test_every_routing_key_has_exactly_one_publisher() -> None:
    published = [key for keys in PUBLISHES.values() for key in keys]
    assert sorted(published) == sorted(ROUTING_KEYS)
    assert set(PUBLISHES["order"]) == set(COMMANDS)
    for service in SERVICES[1:]:  # a participant replies to the commands it is bound to
        assert set(PUBLISHES[service]) <= set(REPLIES)
        assert {key.split(".")[0] for key in PUBLISHES[service] + BINDINGS[service]} == {service}


@pytest.mark.parametrize("style", BY_NAME.values(), ids=BY_NAME)
def test_a_service_may_publish_its_own_keys_and_no_other(style: Style) -> None:
    for service in SERVICES:
        topic_write = re.compile(grant(service, style).topic_write)
        for key in ALL_ROUTING_KEYS:
            assert bool(topic_write.search(key)) == (key in style.publishes[service]), (service, key)
        assert not topic_write.search(key + ".x")  # exactly those keys, not a prefix of them
        assert not re.search(grant(service).write, "amq.default")  # no way around the topic check
        for name in TOPOLOGY:  # it declares, binds and publishes to the whole saga topology
            assert re.search(grant(service).configure, name) and re.search(grant(service).write, name)
    assert re.search(grant(HARNESS).topic_write, "payment.completed.anything")


def test_definitions_carry_hashes_not_passwords() -> None:
    passwords = {account: f"secret-{account}" for account in ACCOUNTS}
    defs = definitions("saga_x", passwords)
    assert "secret-" not in str(defs)
    assert [u["name"] for u in defs["users"]] == [f"saga_x.{a}" for a in ACCOUNTS]
    assert user_name("/", "order") == "saga.order"
    assert {p["vhost"] for p in defs["permissions"] + defs["topic_permissions"]} == {"saga_x"}


def test_password_hash_is_rabbitmqs_salted_sha256() -> None:
    raw = base64.b64decode(password_hash("pw", salt=b"salt"))
    assert raw == b"salt" + hashlib.sha256(b"saltpw").digest()
