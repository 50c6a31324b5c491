"""Mechanical claims of the README, checked against the code they describe."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from harness import exits
from system.config import service_config
from system.contracts import SERVICES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The README's text under `### title`, up to the next heading."""
    match = re.search(rf"^###? {re.escape(title)}\n(.*?)(?=^#)", README, re.M | re.S)
    assert match, f"no section {title!r} in the README"
    return match.group(1)


class Recording(Mapping[str, str]):
    """An empty environment that remembers every name it was asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def get(self, key: str, default=None):  # type: ignore[override]
        self.asked.add(key)
        return default

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def settings_read_by_the_services() -> set[str]:
    """Every variable system/config.py reads, with per-service names written as <SERVICE>."""
    env = Recording()
    for service in SERVICES:
        service_config(service, env)
    names = set()
    for name in env.asked:
        for service in SERVICES:  # asked once per service: a per-service setting
            generic = re.sub(rf"(?<![A-Z]){service.upper()}(?![A-Z])", "<SERVICE>", name)
            if generic != name and all(generic.replace("<SERVICE>", s.upper()) in env.asked for s in SERVICES):
                name = generic
                break
        names.add(name)
    return names


def test_the_configuration_table_names_every_setting_the_services_read():
    table = section("Configuration")
    documented = set(re.findall(r"`([A-Z][A-Z0-9_<>]+)`", table))
    missing = settings_read_by_the_services() - documented
    assert missing == set(), f"settings missing from the README's configuration table: {sorted(missing)}"


def test_the_exit_code_table_is_the_constants():
    table = section("Exit codes")
    documented = {int(code) for code in re.findall(r"^\| \*\*(\d+)\*\* \|", table, re.M)}
    defined = {value for name, value in vars(exits).items() if name.startswith("EXIT_")}
    assert documented == defined


def test_the_recorder_sees_settings_it_was_not_told_about():
    """The check above can fail: a name read but not documented is found."""
    env = Recording()
    env.get("SAGA_SOMETHING_NEW")
    assert "SAGA_SOMETHING_NEW" in env.asked
