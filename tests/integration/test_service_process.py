"""The service process itself: a taken port is a clear error, not a lingering process."""

import socket
import subprocess
import sys


def test_a_taken_port_exits_1_with_a_message(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        env = {"SAGA_ORDER_PORT": str(port), "SAGA_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
        done = subprocess.run([sys.executable, "-m", "system", "order"], env=env, capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_a_bad_setting_exits_2_naming_it(tmp_path):
    env = {"PAYMENT_FAILURE_RATE": "often", "SAGA_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "system", "payment"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "PAYMENT_FAILURE_RATE='often' is not a number" in done.stderr
