"""Starts a real lmgrd (which starts the demo vendor daemon) on a free
loopback port for each test, as the Rust end-to-end tests do."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("LM_TEST_BIN_DIR", REPO / "target" / "debug"))
WAIT = 20.0


def wait_until(what, cond, within=WAIT):
    """Polls `cond` until it is true or `within` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        time.sleep(0.05)


_next_port = [0]


def free_port():
    """A port that was free a moment ago, below the kernel's ephemeral range
    (as the Rust tests' harness picks them): a port the kernel hands out
    may be taken a moment later by some outgoing connection's local end."""
    low = 10_000
    try:
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32_768
    high = min(max(first, low + 1_000), 65_535)
    span = high - low
    start = (os.getpid() * 7_919 + 5_000) % span
    for _ in range(span):
        port = low + (start + _next_port[0]) % span
        _next_port[0] += 1
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """lmgrd on demo.lic with its SERVER port replaced."""

    def __init__(self, tmp: Path):
        self.dir = tmp
        self.port = free_port()
        text = (REPO / "examples" / "licenses" / "demo.lic").read_text()
        text = re.sub(r"^(SERVER \S+ \S+) \d+", rf"\1 {self.port}", text, flags=re.M)
        self.license = tmp / "demo.lic"
        self.license.write_text(text)
        self.log = tmp / "lmgrd.log"
        self.proc = None
        self.start()

    @property
    def at(self):
        return f"{self.port}@localhost"

    def start(self):
        lmgrd = BIN / "lmgrd"
        assert lmgrd.exists(), f"{lmgrd} is not built: run cargo build --workspace"
        env = {k: v for k, v in os.environ.items() if k not in ("LM_LICENSE_FILE", "LM_PUBLIC_KEY_PATH")}
        self.log_file = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [str(lmgrd), "-z", "-c", str(self.license)],
            stdout=self.log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
        self.wait_vendord(count=self.started_count() + 1)

    def started_count(self):
        return len(self.vendord_pids())

    def vendord_pids(self):
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [int(p) for p in re.findall(r"tarted demo \(internet tcp_port \d+ pid (\d+)\)", text)]

    def wait_vendord(self, count):
        wait_until("the vendor daemon", lambda: self.started_count() >= count)

    def vendord_pid(self):
        return self.vendord_pids()[-1]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=WAIT)
        self.log_file.close()


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Nothing of this machine's user (borrow records, ~/.flexlmrc)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("LM_BORROW", raising=False)
    monkeypatch.delenv("LM_LICENSE_FILE", raising=False)
    monkeypatch.delenv("DEMO_LICENSE_FILE", raising=False)
