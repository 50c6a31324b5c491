"""The operation log keeps Jepsen's semantics: an unknown outcome is `info`, never `fail`."""

import threading

import httpx
import pytest

from harness.oplog import (
    OpLog,
    OpLogError,
    describe_error,
    next_process,
    outcome_of_error,
    outcome_of_status,
)


def clock():
    ticks = iter(range(1000))
    return lambda: float(next(ticks))


def test_an_invocation_and_its_completion_share_process_f_and_request():
    log = OpLog(clock=clock())
    op = log.invoke(3, "place_order", {"product_id": "product_1"})
    done = log.ok(op, {"order_id": "o-1"})
    assert [o.type for o in log.operations()] == ["invoke", "ok"]
    assert (done.process, done.f, done.time) == (3, "place_order", 1.0)
    assert done.value == {"product_id": "product_1", "order_id": "o-1"}


def test_fail_and_info_keep_the_error():
    log = OpLog()
    failed = log.fail(log.invoke(0, "place_order"), "409: conflict")
    unknown = log.info(log.invoke(0, "place_order"), "ReadTimeout")
    assert (failed.type, failed.error) == ("fail", "409: conflict")
    assert (unknown.type, unknown.error) == ("info", "ReadTimeout")
    assert log.counts() == {"invoke": 2, "ok": 0, "fail": 1, "info": 1}


def test_a_process_has_one_operation_open_at_a_time():
    log = OpLog()
    log.invoke(1, "place_order")
    with pytest.raises(OpLogError):
        log.invoke(1, "place_order")


def test_a_completion_needs_its_open_invocation():
    log = OpLog()
    op = log.invoke(1, "place_order")
    log.ok(op)
    with pytest.raises(OpLogError):
        log.ok(op)
    with pytest.raises(OpLogError):
        log.info(op, "again")


def test_operations_left_open_at_the_end_become_info():
    log = OpLog()
    log.invoke(1, "place_order", {"user_id": "u"})
    closed = log.close_open()
    assert [o.type for o in closed] == ["info"] and closed[0].value == {"user_id": "u"}
    assert log.open_operations() == []


def test_a_request_that_never_left_the_client_is_a_fail():
    request = httpx.Request("POST", "http://x/orders")
    assert outcome_of_error(httpx.ConnectError("refused", request=request)) == "fail"
    assert outcome_of_error(httpx.ConnectTimeout("slow connect", request=request)) == "fail"
    assert outcome_of_error(httpx.PoolTimeout("no connection free", request=request)) == "fail"


def test_a_timeout_or_a_dropped_connection_after_sending_is_info_never_fail():
    request = httpx.Request("POST", "http://x/orders")
    for exc in (httpx.ReadTimeout("t", request=request), httpx.WriteTimeout("t", request=request),
                httpx.RemoteProtocolError("Server disconnected", request=request),
                httpx.ReadError("reset", request=request)):
        assert outcome_of_error(exc) == "info", exc


def test_status_codes_say_ok_fail_or_unknown():
    assert [outcome_of_status(s) for s in (200, 201, 409, 422, 500, 502, 503)] == [
        "ok", "ok", "fail", "fail", "info", "info", "info"]


def test_a_retired_process_gets_a_fresh_id_of_the_same_worker():
    assert next_process(2, workers=4) == 6
    assert next_process(6, workers=4) % 4 == 2


def test_describe_error_names_the_type():
    assert describe_error(ValueError("bad")) == "ValueError: bad"
    assert describe_error(TimeoutError()) == "TimeoutError"


def test_many_threads_log_without_losing_an_operation():
    log = OpLog()

    def worker(process: int) -> None:
        for n in range(200):
            log.ok(log.invoke(process, "place_order", {"n": n}))

    threads = [threading.Thread(target=worker, args=(p,)) for p in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.counts() == {"invoke": 1600, "ok": 1600, "fail": 0, "info": 0}
    for process in range(8):  # per process, invocations and completions alternate
        types = [o.type for o in log.operations() if o.process == process]
        assert types == ["invoke", "ok"] * 200
