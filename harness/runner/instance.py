"""Isolated instances: a separate home, port range and RabbitMQ vhost per instance.

The demo runs in the default instance (./.saga, ports 8001-8004, vhost "/"). Tests and the
defect zoo each get their own, so they never consume each other's messages or clash on ports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

from harness.runner.layout import ISOLATED_REPLICA_PORT_STEP, Layout, amqp_vhost
from system.access import ACCOUNTS, definitions, new_password
from system.config import DEFAULT_AMQP_URL
from system.contracts import SERVICES
from system.stores.postgres import drop_database, is_postgres_url, with_database
from system.styles import style_named


class VhostError(RuntimeError):
    pass


# How to reach a node other than the machine's default one: (rabbitmqctl argv prefix, its env).
CtlNode = tuple[list[str], dict[str, str]]


def ensure_vhost(vhost: str, amqp_url: str = DEFAULT_AMQP_URL, ctl_node: CtlNode | None = None) -> None:
    """Create the vhost and grant the URL's user on it (rabbitmqctl on the broker's machine;
    `ctl_node`: the argv prefix and environment that reach another node, a local cluster's)."""
    ctl, ctl_env = ctl_node or (shutil.which("rabbitmqctl"), None)
    if ctl is None:
        raise VhostError(
            f"cannot create RabbitMQ vhost {vhost!r}: rabbitmqctl is not on PATH. Create it by hand "
            f"(rabbitmqctl add_vhost {vhost}) or run against the default vhost."
        )
    user = urlsplit(amqp_url).username or "guest"
    argv = [ctl] if isinstance(ctl, str) else list(ctl)
    for attempt in range(5):  # a vhost deleted just before may still be going away: ask again
        if attempt:
            time.sleep(1.0)
        listing = subprocess.run([*argv, "-q", "list_vhosts"], capture_output=True, text=True, timeout=60,
                                 env=ctl_env)
        if vhost not in listing.stdout.split():
            subprocess.run([*argv, "-q", "add_vhost", vhost], capture_output=True, text=True, timeout=60,
                           check=False, env=ctl_env)
        done = subprocess.run(
            [*argv, "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
            capture_output=True, text=True, timeout=60, env=ctl_env,
        )
        if done.returncode == 0:
            break
    if done.returncode != 0:
        raise VhostError(f"rabbitmqctl set_permissions on {vhost!r} failed: {done.stderr.strip()}")


def ensure_accounts(layout: Layout, amqp_url: str, style: str | None = None,
                    ctl_node: CtlNode | None = None) -> dict[str, str]:
    """Give every account (each service, and the harness) its own user in the URL's vhost, with
    the permissions system/access.py derives from the contract. The passwords are made once per
    instance home and kept there (0600); the broker gets them (hashed) on every `up`, so a user
    made by an earlier home of the same name follows the current one. `style`: the saga style the
    services run (SAGA_STYLE's value; system/styles.py), whose PUBLISHES table the permissions follow.
    `ctl_node`: the argv prefix and environment that reach another node (a local cluster's)."""
    ctl, ctl_env = ctl_node or (shutil.which("rabbitmqctl"), None)
    if ctl is None:
        raise VhostError("cannot create the services' RabbitMQ users: rabbitmqctl is not on PATH")
    argv = [ctl] if isinstance(ctl, str) else list(ctl)
    passwords = layout.read_amqp_passwords() or {}
    if set(passwords) != set(ACCOUNTS):
        passwords = {account: passwords.get(account) or new_password() for account in ACCOUNTS}
        layout.home.mkdir(parents=True, exist_ok=True)
        tmp = layout.amqp_passwords_file.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(passwords, indent=2))
        tmp.replace(layout.amqp_passwords_file)
    try:
        done = subprocess.run(  # no file argument: the definitions (with hashes only) come on stdin
            [*argv, "-q", "import_definitions"],
            input=json.dumps(definitions(amqp_vhost(amqp_url), passwords, style_named(style))),
            capture_output=True, text=True, timeout=60, env=ctl_env,
        )
    except subprocess.TimeoutExpired:
        raise VhostError("rabbitmqctl import_definitions did not answer within 60 s") from None
    if done.returncode != 0:
        raise VhostError(f"rabbitmqctl import_definitions failed: {done.stderr.strip() or done.stdout.strip()}")
    return passwords


def with_vhost(amqp_url: str, vhost: str) -> str:
    parts = urlsplit(amqp_url)
    return parts._replace(path="/" + quote(vhost, safe="")).geturl()


def delete_vhost(vhost: str) -> None:
    """Drop the vhost with every queue, binding and message in it (rabbitmqctl; quiet if absent)."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        raise VhostError(f"cannot delete RabbitMQ vhost {vhost!r}: rabbitmqctl is not on PATH")
    subprocess.run([ctl, "-q", "delete_vhost", vhost], capture_output=True, text=True, timeout=60, check=False)


def instance_database(vhost: str) -> str:
    """Pure: the instance's PostgreSQL database, named as its vhost but a plain identifier (the
    only names the store creates and drops): `saga_test-check` -> `saga_test_check`."""
    return re.sub(r"[^a-z0-9_]", "_", vhost.lower())[:63]


def fresh_isolated_env(name: str, port_base: int, base_env: dict[str, str] | None = None) -> dict[str, str]:
    """Like isolated_env, but first stop whatever that instance left running and wipe its home and
    vhost: a run starts from the seed data, with no queue, dead letter or row of an earlier run."""
    from harness.runner.local import LocalSystem

    env = isolated_env(name, port_base, base_env)
    LocalSystem(env=env, say=lambda line: None).down()
    shutil.rmtree(env["SAGA_HOME"], ignore_errors=True)
    delete_vhost(f"saga_{name}")
    if is_postgres_url(env.get("SAGA_STORE")):
        drop_database(env["SAGA_STORE"])  # `up` creates it again, empty
    return isolated_env(name, port_base, base_env)


def isolated_env(name: str, port_base: int, base_env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for an instance called `name`: home .saga/<name>, ports port_base+1.., vhost
    saga_<name>, replica r of a service on its port + 4 r, and with SAGA_STORE=postgresql://... the database saga_<name> on that server."""
    env = dict(os.environ if base_env is None else base_env)
    vhost = f"saga_{name}"
    amqp = with_vhost(env.get("SAGA_AMQP_URL", DEFAULT_AMQP_URL), vhost)
    ensure_vhost(vhost, amqp)
    env["SAGA_HOME"] = str(Path(".saga", name).resolve())
    env["SAGA_AMQP_URL"] = amqp
    for i, service in enumerate(SERVICES, start=1):
        env[f"SAGA_{service.upper()}_PORT"] = str(port_base + i)
    env["SAGA_TOXIPROXY_PORT"] = str(port_base + 474)
    # Isolated instances sit 100 ports apart or less (the suite's other-style instance is at +950,
    # beside the +500 one's Toxiproxy at +974): replica r on the service's port + 4 r keeps
    # every process of an instance on consecutive ports from port_base + 1, N <= 4 within +20.
    env["SAGA_REPLICA_PORT_STEP"] = str(ISOLATED_REPLICA_PORT_STEP)
    if is_postgres_url(env.get("SAGA_STORE")):
        env["SAGA_STORE"] = with_database(env["SAGA_STORE"], instance_database(vhost))
    env.pop("TOXIPROXY_URL", None)
    return env
