import pytest

from system.config import ConfigError, service_config
from system.defects import parse_defects
from system.messaging.crashpoints import CrashPoints


def test_defaults():
    config = service_config("payment", {})
    assert config.port == 8003 and config.decisions.payment_failure_rate == 0.2
    assert config.decisions.delivery_failure_rate == 0.1 and config.chaos_token is None
    assert config.defects == frozenset()


def test_per_service_amqp_url_wins():
    env = {"SAGA_AMQP_URL": "amqp://a/", "SAGA_AMQP_URL_ORDER": "amqp://b/"}
    assert service_config("order", env).amqp_url == "amqp://b/"
    assert service_config("payment", env).amqp_url == "amqp://a/"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"PAYMENT_FAILURE_RATE": "lots"}, "not a number"),
        ({"DELIVERY_FAILURE_RATE": "1.5"}, "between 0 and 1"),
        ({"SAGA_SEED": "x"}, "not an integer"),
        ({"SAGA_DEFECTS": "no_inbox_dedup,bogus"}, "unknown defect"),
        ({"SAGA_STORE": "postgresql://h/db", "SAGA_STORE_THREADS": "0"}, "SAGA_STORE_THREADS=0 must be between 1 and 64"),
        ({"SAGA_STORE": "postgresql://h/db", "SAGA_STORE_THREADS": "four"}, "not an integer"),
        ({"SAGA_EVENT_LOOP": "trio"}, "use uvloop or asyncio"),
    ],
)
def test_bad_settings_are_named(env, words):
    with pytest.raises(ConfigError, match=words):
        service_config("order", env)


def test_store_threads_one_for_sqlite_whatever_is_asked_and_four_by_default_for_postgresql():
    assert service_config("order", {"SAGA_STORE_THREADS": "8"}).store_threads == 1
    assert service_config("order", {"SAGA_STORE": "postgresql://h/db"}).store_threads == 4
    assert service_config("order", {"SAGA_STORE": "postgresql://h/db", "SAGA_STORE_THREADS": "8"}).store_threads == 8


def test_the_event_loop_is_uvloop_unless_asked_for_asyncio():
    assert service_config("order", {}).event_loop == "uvloop"
    assert service_config("order", {"SAGA_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"


def test_unknown_service():
    with pytest.raises(ConfigError, match="unknown service"):
        service_config("shipping", {})


def test_defects_parse():
    assert parse_defects(" no_inbox_dedup , ack_before_commit") == {"no_inbox_dedup", "ack_before_commit"}


def test_crash_point_skips_and_filters_without_firing():
    points = CrashPoints()
    points.arm("before_commit", routing_key="payment.process", skip=2)
    points.hit("before_commit", "inventory.reserve")  # other key: not counted
    points.hit("before_commit", "payment.process")
    points.hit("before_commit", "payment.process")
    assert points.armed["before_commit"].skip == 0
    with pytest.raises(ValueError, match="unknown crash point"):
        points.arm("whenever")
