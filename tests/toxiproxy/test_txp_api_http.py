"""Conformance of the bundled server's HTTP API with Toxiproxy 2.x, over raw HTTP."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from tests.toxiproxy.txp_helpers import connect, free_port, round_trip

ERROR_TYPE = "text/plain; charset=utf-8"


@pytest.fixture
def http(toxiproxy):
    with httpx.Client(base_url=toxiproxy.url, timeout=5.0) as c:
        yield c


@pytest.fixture
def proxy(http, unique, echo_port):
    name = unique("proxy")
    r = http.post(
        "/proxies",
        json={"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"},
    )
    assert r.status_code == 201
    yield r.json()
    http.delete(f"/proxies/{name}")


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == ERROR_TYPE
    assert response.text.endswith("\n")
    assert response.json() == {"error": message, "status": status}


def test_version_has_upstream_shape(http):
    r = http.get("/version")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert set(r.json()) == {"version"}


@pytest.mark.parametrize("path", ["/version", "/proxies", "/no/such/route", "/proxies/missing"])
def test_every_response_carries_a_request_id(http, path):
    r = http.get(path)
    assert len(r.headers["x-toxiproxy-request-id"]) == 20


def test_request_ids_differ(http):
    ids = {http.get("/version").headers["x-toxiproxy-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_browsers_are_refused(http):
    r = http.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert r.status_code == 403
    assert r.text == "User agent not allowed\n"
    assert "x-toxiproxy-request-id" in r.headers


def test_create_proxy_returns_201_with_resolved_listen(http, unique, echo_port):
    name = unique()
    r = http.post(
        "/proxies",
        json={"name": name, "listen": "localhost:0", "upstream": f"127.0.0.1:{echo_port}"},
    )
    assert r.status_code == 201
    body = r.json()
    assert list(body) == ["name", "listen", "upstream", "enabled", "toxics"]
    assert body["name"] == name and body["enabled"] is True and body["toxics"] == []
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert http.get(f"/proxies/{name}").json() == body


def test_proxy_index_is_an_object_keyed_by_name(http, proxy):
    r = http.get("/proxies")
    assert r.status_code == 200
    assert r.json()[proxy["name"]] == proxy


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "x"}, "missing required field: upstream"),
        ({"name": "", "upstream": ""}, "missing required field: name"),
    ],
)
def test_create_proxy_requires_name_then_upstream(http, body, message):
    assert_error(http.post("/proxies", json=body), 400, message)


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b'{"name": 5, "upstream": "x:1"}',
        b'{"name": "x", "enabled": "yes"}',
    ],
)
def test_malformed_proxy_body_is_bad_request(http, raw):
    r = http.post("/proxies", content=raw)
    assert r.status_code == 400
    assert r.json()["error"].startswith("bad request body: ")


def test_empty_body_is_bad_request_eof(http):
    assert_error(http.post("/proxies", content=b""), 400, "bad request body: EOF")


def test_duplicate_proxy_is_409(http, proxy, echo_port):
    r = http.post(
        "/proxies",
        json={"name": proxy["name"], "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"},
    )
    assert_error(r, 409, "proxy already exists")


def test_listen_port_taken_is_500_and_the_server_keeps_running(http, unique):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        name = unique()
        r = http.post(
            "/proxies",
            json={"name": name, "listen": f"127.0.0.1:{port}", "upstream": "127.0.0.1:1"},
        )
    assert_error(r, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    assert http.get(f"/proxies/{name}").status_code == 404  # nothing half-created
    assert http.get("/version").status_code == 200


def test_unknown_proxy_is_404_everywhere(http):
    for method, path in [
        ("GET", "/proxies/nope"),
        ("PATCH", "/proxies/nope"),
        ("POST", "/proxies/nope"),
        ("DELETE", "/proxies/nope"),
        ("GET", "/proxies/nope/toxics"),
        ("POST", "/proxies/nope/toxics"),
        ("GET", "/proxies/nope/toxics/t"),
        ("PATCH", "/proxies/nope/toxics/t"),
        ("DELETE", "/proxies/nope/toxics/t"),
    ]:
        assert_error(http.request(method, path, json={"type": "latency"}), 404, "proxy not found")


def test_unknown_route_and_wrong_method(http):
    r = http.get("/nothing-here")
    assert r.status_code == 404 and r.text == "404 page not found\n"
    assert http.put("/proxies").status_code == 405


def test_create_disabled_proxy_does_not_listen(http, unique):
    port = free_port()
    name = unique()
    r = http.post(
        "/proxies",
        json={
            "name": name,
            "listen": f"127.0.0.1:{port}",
            "upstream": "127.0.0.1:1",
            "enabled": False,
        },
    )
    assert r.status_code == 201 and r.json()["enabled"] is False
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    http.delete(f"/proxies/{name}")


def test_update_toggles_enabled_and_keeps_the_port(http, proxy):
    name = proxy["name"]
    r = http.patch(f"/proxies/{name}", json={"enabled": False})
    assert (
        r.status_code == 200
        and r.json()["enabled"] is False
        and r.json()["listen"] == proxy["listen"]
    )
    r = http.post(f"/proxies/{name}", json={"enabled": True})  # POST is the deprecated spelling
    assert r.json() == proxy
    with connect(proxy["listen"]) as sock:
        round_trip(sock)


def test_update_upstream_restarts_and_drops_connections(http, proxy, echo_port):
    name = proxy["name"]
    with connect(proxy["listen"]) as sock:
        round_trip(sock)
        r = http.patch(f"/proxies/{name}", json={"upstream": f"localhost:{echo_port}"})
        assert r.status_code == 200 and r.json()["upstream"] == f"localhost:{echo_port}"
        assert sock.recv(10) == b""  # dropped by the restart
    with connect(r.json()["listen"]) as sock:
        round_trip(sock)


def test_delete_proxy_is_204_then_404(http, proxy):
    name = proxy["name"]
    r = http.delete(f"/proxies/{name}")
    assert r.status_code == 204 and r.content == b""
    assert_error(http.get(f"/proxies/{name}"), 404, "proxy not found")
    with pytest.raises(ConnectionRefusedError):
        connect(proxy["listen"]).close()


# --- toxics -----------------------------------------------------------------------------------
def test_create_toxic_is_200_with_upstream_defaults(http, proxy):
    r = http.post(f"/proxies/{proxy['name']}/toxics", json={"type": "latency"})
    assert r.status_code == 200
    assert r.json() == {
        "attributes": {"latency": 0, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1,
    }


def test_toxic_keeps_given_fields_and_ignores_unknown_keys(http, proxy):
    body = {
        "name": "slow",
        "type": "latency",
        "stream": "upstream",
        "toxicity": 0.5,
        "attributes": {"latency": 7, "bogus": 1},
        "extra": True,
    }
    r = http.post(f"/proxies/{proxy['name']}/toxics", json=body)
    assert r.json() == {
        "attributes": {"latency": 7, "jitter": 0},
        "name": "slow",
        "type": "latency",
        "stream": "upstream",
        "toxicity": 0.5,
    }
    assert http.get(f"/proxies/{proxy['name']}/toxics/slow").json() == r.json()


def test_toxic_errors_come_in_upstream_order(http, proxy):
    toxics = f"/proxies/{proxy['name']}/toxics"
    assert http.post(toxics, content=b"{").json()["error"].startswith("bad request body")
    assert_error(
        http.post(toxics, json={"type": "nope", "stream": "sideways"}),
        400,
        "stream was invalid, can be either upstream or downstream",
    )
    assert_error(http.post(toxics, json={"type": "nope"}), 400, "invalid toxic type")
    assert http.post(toxics, json={"type": "timeout"}).status_code == 200
    assert_error(
        http.post(toxics, json={"type": "timeout", "attributes": {"timeout": "x"}}),
        409,
        "toxic already exists",
    )
    r = http.post(toxics, json={"type": "latency", "attributes": {"latency": "slow"}})
    assert r.status_code == 400 and r.json()["error"].startswith("bad request body: ")
    r = http.post(toxics, json={"type": "latency", "attributes": {"latency": 1.5}})
    assert r.status_code == 400


def test_toxic_index_lists_upstream_toxics_first(http, proxy):
    toxics = f"/proxies/{proxy['name']}/toxics"
    http.post(toxics, json={"type": "latency", "name": "d1"})
    http.post(toxics, json={"type": "latency", "name": "u1", "stream": "upstream"})
    http.post(toxics, json={"type": "bandwidth", "name": "d2"})
    names = [t["name"] for t in http.get(toxics).json()]
    assert names == ["u1", "d1", "d2"]
    assert [t["name"] for t in http.get(f"/proxies/{proxy['name']}").json()["toxics"]] == names


def test_update_toxic_merges_attributes_and_changes_toxicity(http, proxy):
    toxics = f"/proxies/{proxy['name']}/toxics"
    http.post(
        toxics, json={"type": "latency", "name": "l", "attributes": {"latency": 10, "jitter": 2}}
    )
    r = http.patch(
        f"{toxics}/l",
        json={
            "attributes": {"jitter": 5},
            "toxicity": 0.25,
            "stream": "upstream",
            "type": "timeout",
        },
    )
    assert r.status_code == 200
    assert r.json() == {
        "attributes": {"latency": 10, "jitter": 5},
        "name": "l",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 0.25,
    }
    assert http.post(f"{toxics}/l", json={"toxicity": 1}).json()["toxicity"] == 1


def test_missing_toxic_is_404(http, proxy):
    toxics = f"/proxies/{proxy['name']}/toxics"
    assert_error(http.get(f"{toxics}/none"), 404, "toxic not found")
    assert_error(http.patch(f"{toxics}/none", json={}), 404, "toxic not found")
    assert_error(http.delete(f"{toxics}/none"), 404, "toxic not found")


def test_delete_toxic_is_204(http, proxy):
    toxics = f"/proxies/{proxy['name']}/toxics"
    http.post(toxics, json={"type": "latency"})
    r = http.delete(f"{toxics}/latency_downstream")
    assert r.status_code == 204 and r.content == b""
    assert http.get(toxics).json() == []


def test_reset_enables_proxies_and_removes_toxics_but_keeps_proxies(http, proxy):
    name = proxy["name"]
    http.post(f"/proxies/{name}/toxics", json={"type": "latency"})
    http.patch(f"/proxies/{name}", json={"enabled": False})
    r = http.post("/reset")
    assert r.status_code == 204
    after = http.get(f"/proxies/{name}").json()
    assert after["enabled"] is True and after["toxics"] == [] and after["listen"] == proxy["listen"]


# --- populate ---------------------------------------------------------------------------------
def test_populate_creates_and_returns_201(http, unique, echo_port):
    a, b = unique("a"), unique("b")
    body = [
        {"name": a, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"},
        {
            "name": b,
            "listen": "127.0.0.1:0",
            "upstream": f"127.0.0.1:{echo_port}",
            "enabled": False,
        },
    ]
    r = http.post("/populate", json=body)
    assert r.status_code == 201
    proxies = r.json()["proxies"]
    assert [p["name"] for p in proxies] == [a, b]
    assert [p["enabled"] for p in proxies] == [True, False]


def test_populate_keeps_an_identical_proxy_with_its_toxics_and_replaces_a_changed_one(
    http, proxy, echo_port
):
    name = proxy["name"]
    http.post(f"/proxies/{name}/toxics", json={"type": "latency"})
    same = {"name": name, "listen": proxy["listen"], "upstream": proxy["upstream"]}
    r = http.post("/populate", json=[same])
    assert r.status_code == 201 and len(r.json()["proxies"][0]["toxics"]) == 1
    changed = {**same, "upstream": f"localhost:{echo_port}"}
    r = http.post("/populate", json=[changed])
    assert r.status_code == 201
    replaced = r.json()["proxies"][0]
    assert replaced["upstream"] == f"localhost:{echo_port}" and replaced["toxics"] == []


def test_populate_validates_every_entry_before_creating_any(http, unique):
    first = unique()
    r = http.post(
        "/populate",
        json=[
            {"name": first, "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"},
            {"upstream": "x:1"},
        ],
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": "missing required field: name at proxy 2",
        "status": 400,
        "proxies": None,
    }
    assert http.get(f"/proxies/{first}").status_code == 404


def test_populate_needs_an_array(http):
    r = http.post("/populate", json={"name": "x"})
    assert r.status_code == 400 and r.json()["error"].startswith("bad request body")


def test_keep_alive_serves_many_requests_on_one_connection(toxiproxy):
    host, port = toxiproxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        stream = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            assert stream.readline().startswith(b"HTTP/1.1 200")
            length = 0
            while (line := stream.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            assert "version" in json.loads(stream.read(length))
