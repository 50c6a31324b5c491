"""The compose broker's users, loaded at boot from deploy/rabbitmq/definitions.json (pure, except
`write_definitions`). The same accounts and permissions as `saga-harness up` makes
(system/access.py), in the default vhost "/", plus the seed's admin/admin.

The passwords are fixed here because the compose file must name them in each service's URL; the
broker is published on 127.0.0.1 only, like its admin/admin. Regenerate the file after a change of
the contract: `python -m harness.targets.compose.access`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from system.access import ACCOUNTS, definitions, password_hash
from system.styles import ORCHESTRATED

ROOT = Path(__file__).resolve().parents[3]
DEFINITIONS_FILE = ROOT / "deploy" / "rabbitmq" / "definitions.json"
VHOST = "/"
SEED_LOGIN = ("admin", "admin")
COMPOSE_PASSWORDS = {account: f"saga-{account}-demo" for account in ACCOUNTS}


def compose_definitions() -> dict[str, Any]:
    defs = definitions(VHOST, COMPOSE_PASSWORDS, ORCHESTRATED)  # the compose demo runs the orchestration
    # Definitions loaded at boot replace the default user: the seed's admin must be among them.
    admin, password = SEED_LOGIN
    defs["users"].insert(0, {"name": admin, "password_hash": password_hash(password),
                             "hashing_algorithm": "rabbit_password_hashing_sha256",
                             "tags": ["administrator"]})
    defs["permissions"].insert(0, {"user": admin, "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"})
    return defs


def write_definitions(path: Path = DEFINITIONS_FILE) -> None:
    path.write_text(json.dumps(compose_definitions(), indent=2) + "\n")


if __name__ == "__main__":
    write_definitions()
