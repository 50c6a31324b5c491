"""The consumer and relay policies: pure decisions, and the defects that wrap them."""

import pytest

from system.composition import compose
from system.contracts import MalformedMessage, Message
from system.defects import Defect
from system.messaging.handler_faults import HandlerFaults, TransientHandlerFault
from system.messaging.policy import (
    ACK,
    ALREADY_SETTLED,
    ConsumerPolicy,
    DeadLetter,
    RelayPolicy,
    Requeue,
    attempt_number,
    backoff_s,
    relay_backoff_s,
)
from system.messaging.ports import OutboxRow
from system.registry import SERVICE_LOGIC
from system.stores.memory import MemoryStore

POLICY = ConsumerPolicy(max_attempts=5)


def test_handled_and_duplicate_deliveries_are_acked():
    assert POLICY.decide(None, 1) == ACK


def test_a_malformed_message_is_dead_lettered_with_its_reason_at_once():
    assert POLICY.decide(MalformedMessage("body is not valid JSON"), 1) == DeadLetter("body is not valid JSON")


def test_a_failing_handler_is_retried_with_a_capped_backoff_then_dead_lettered():
    failure = TransientHandlerFault("boom")
    assert [POLICY.decide(failure, n) for n in range(1, 5)] == [Requeue(0.2), Requeue(0.4), Requeue(0.8), Requeue(1.6)]
    assert POLICY.decide(failure, 5) == DeadLetter("handler failed 5 times: TransientHandlerFault('boom')")
    assert backoff_s(10) == 2.0


def test_the_attempt_comes_from_how_often_it_was_delivered_before():
    assert attempt_number(None) == 1 and attempt_number(0) == 1 and attempt_number(4) == 5


def policies(*defects: Defect):
    service = compose("payment", MemoryStore(SERVICE_LOGIC["payment"].memory()), _NoHooks(),
                      defects=defects, new_id=lambda: "x")
    return service.consumer, service.relay


class _NoHooks:
    def before_commit(self, msg: Message) -> None:
        pass


def test_ack_before_commit_acks_on_receipt_and_never_retries():
    consumer, _ = policies(Defect.ACK_BEFORE_COMMIT)
    assert consumer.ack_on_receipt and not POLICY.ack_on_receipt
    assert consumer.decide(TransientHandlerFault("x"), 1) == ALREADY_SETTLED
    assert consumer.decide(MalformedMessage("bad"), 1) == DeadLetter("bad")  # refused before the ack


def test_ack_and_drop_acks_a_failed_handler_instead_of_retrying():
    consumer, _ = policies(Defect.ACK_AND_DROP_ON_HANDLER_ERROR)
    assert consumer.decide(TransientHandlerFault("x"), 1) == ACK
    assert consumer.decide(TransientHandlerFault("x"), 5) == ACK
    assert consumer.decide(MalformedMessage("bad"), 1) == DeadLetter("bad")


ROWS = [OutboxRow(n, Message(f"m{n}", "payment.completed", "o1")) for n in (1, 2, 3)]


def test_the_relay_marks_only_confirmed_rows_sent_unless_defective():
    assert RelayPolicy().to_mark(ROWS, [True, False, True]) == [ROWS[0], ROWS[2]]
    _, relay = policies(Defect.RELAY_MARKS_UNCONFIRMED_SENT)
    assert relay.to_mark(ROWS, [True, False, True]) == ROWS


def test_the_relay_backs_off_while_publishes_fail():
    assert relay_backoff_s(0.1, True) == 0.2 and relay_backoff_s(1.5, True) == 2.0
    assert relay_backoff_s(2.0, False) == 0.1


def test_handler_faults_fire_for_the_armed_key_count_times():
    faults = HandlerFaults()
    faults.arm("payment.process", 2)
    faults.check("payment.refund")  # another key: not counted
    for _ in range(2):
        with pytest.raises(TransientHandlerFault):
            faults.check("payment.process")
    faults.check("payment.process")
    assert faults.armed == []
    with pytest.raises(ValueError, match="at least 1"):
        faults.arm(None, 0)
    with pytest.raises(ValueError, match="unknown routing key"):
        faults.arm("payment.proces", 1)


@pytest.mark.parametrize("service", sorted(SERVICE_LOGIC))
def test_every_defect_composes_on_every_service(service, tmp_path):
    from system.defects import DEFECTS
    from system.stores.sqlite import SqliteStore

    for store in (MemoryStore(SERVICE_LOGIC[service].memory()), SqliteStore.open(tmp_path / "s.db", SERVICE_LOGIC[service].sql)):
        composed = compose(service, store, _NoHooks(), defects=set(DEFECTS), new_id=lambda: "x")
        assert composed.consumer.ack_on_receipt and composed.handling.publish_first is not None
        correct = compose(service, store, _NoHooks(), new_id=lambda: "x")
        assert not correct.consumer.ack_on_receipt and correct.handling.publish_first is None
