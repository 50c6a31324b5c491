"""Start, find and stop local processes by pid file. Real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in `pid_file` if that process lives and is ours (its command line has `marker`)."""
    pid = read_pid(pid_file)
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    state = _proc_state(pid)
    if state in ("Z", ""):  # a zombie (or already gone) is not alive
        return None
    cmdline = _cmdline(pid)
    # The kernel shows an empty cmdline for a few ms around exec and while a killed process
    # exits: that is still our process (and may still hold its port), not a recycled pid.
    if cmdline and marker not in cmdline:
        return None
    return pid


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[0]


def spawn(argv: list[str], env: dict[str, str], log_file: Path, pid_file: Path, cwd: Path) -> int:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # not killed by the terminal's Ctrl-C; `down` stops it
        )
    pid_file.write_text(str(proc.pid))
    return proc.pid


def signal_process(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if _proc_state(pid) == "Z":
            _reap(pid)
            return True
        time.sleep(0.05)
    return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it will not go."""
    if not signal_process(pid, signal.SIGTERM):
        return
    if not wait_gone(pid, timeout):
        signal_process(pid, signal.SIGKILL)
        wait_gone(pid, 5.0)


def kill(pid: int) -> None:
    """SIGKILL: the process gets no chance to tidy up, like a power cut."""
    signal_process(pid, signal.SIGKILL)
    wait_gone(pid, 5.0)
