"""The compose file as Compose reads it: YAML, the `.env` file beside it, variable interpolation.
Pure, apart from reading the files."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness.targets.compose.errors import ComposeError

_VARIABLE = re.compile(r"\$(?:(\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.S)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable interpolation over a parsed document: $$, $VAR, ${VAR}, ${VAR:-default},
    ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt} (no nesting)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        if match.group("named"):
            return env.get(match.group("named"), "")
        braced = _BRACED.match(match.group("braced"))
        if not braced:
            raise ComposeError(f"invalid interpolation format in {value!r}")
        name, op, arg = braced.group("name"), braced.group("op"), braced.group("arg") or ""
        present = name in env
        nonempty = bool(env.get(name))
        if op is None:
            return env.get(name, "")
        if op in (":-", "-"):
            return env[name] if (nonempty if op == ":-" else present) else arg
        if op in (":+", "+"):
            return arg if (nonempty if op == ":+" else present) else ""
        if not (nonempty if op == ":?" else present):  # ":?" and "?": required variable
            raise ComposeError(f"required variable {name} is missing a value: {arg}")
        return env[name]

    return _VARIABLE.sub(substitute, value)


def read_dotenv(path: Path) -> dict[str, str]:
    """The `.env` file beside the compose file, which Compose also reads for interpolation."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return values
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_compose(path: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file parsed (YAML anchors and merge keys resolved) and interpolated."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ComposeError(f"no compose file at {path}") from None
    except yaml.YAMLError as exc:
        raise ComposeError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise ComposeError(f"{path} has no `services` mapping")
    return interpolate(document, os.environ if env is None else env)
