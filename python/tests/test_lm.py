"""The `lm` package against a real lmgrd: the scenarios the C tests run."""

import os
import queue
import signal
import threading

import pytest

import lm
from conftest import WAIT, Server, wait_until


def demo_job(server, **kw):
    return lm.Job(lm.DEMO_VENDOR, key=lm.DEMO_KEY, license_path=server.at, **kw)


def test_the_demo_key_is_the_shipped_public_key():
    assert lm.DEMO_KEY.startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(ValueError):
        lm.Job("demo", key="not a key")


def test_checkout_as_a_context_manager_reads_the_line_and_checks_in(server):
    job = demo_job(server)
    with job.checkout("f1") as lic:
        assert (lic.feature, lic.version, lic.count) == ("f1", "1.0", 1)
        assert lic.notice == "Demo license: not for production use"
        assert lic.vendor_string is None
        assert lic.expire_days is None and lic.expiry == "permanent"
        assert lic.held
        assert job.status()["held"] == 1
    assert not lic.held
    wait_until("the seat back", lambda: job.status()["held"] == 0)
    # All four seats are free again.
    other = demo_job(server)
    four = other.checkout("f1", count=4)
    four.checkin()


def test_a_denial_carries_flexlm_number_and_text(server):
    holder = demo_job(server)
    held = holder.checkout("f1", count=4)
    job = demo_job(server)
    with pytest.raises(lm.LicenseError) as info:
        job.checkout("f1")
    e = info.value
    assert e.code == -4
    assert e.text == "Licensed number of users already reached."
    assert "FlexNet Licensing error:-4," in e.long_form
    assert e.feature == "f1"
    held.checkin()


def test_queue_then_grant(server):
    holder = demo_job(server)
    held = holder.checkout("f1", count=4)
    job = demo_job(server)
    q = job.checkout("f1", queue=True)
    assert isinstance(q, lm.QueuedLicense)
    assert q.try_take() is None
    with pytest.raises(lm.LicenseError) as info:
        q.wait(timeout=0.1)
    assert info.value.code == -35
    held.checkin()
    lic = q.wait(timeout=WAIT)
    assert lic.feature == "f1" and lic.held
    lic.checkin()


def test_wait_blocks_until_a_seat_frees(server):
    holder = demo_job(server)
    held = holder.checkout("f1", count=4)
    job = demo_job(server)
    got = queue.Queue()
    t = threading.Thread(target=lambda: got.put(job.checkout("f1", wait=True)))
    t.start()
    wait_until("the queued checkout", lambda: 'QUEUED: "f1"' in server.log.read_text())
    held.checkin()
    t.join(WAIT)
    lic = got.get(timeout=1)
    assert lic.held
    lic.checkin()


def test_reconnect_event_after_the_vendor_daemon_is_killed(server):
    job = demo_job(server, retry_interval=0.2)
    events = queue.Queue()
    job.on_event(events.put)
    lic = job.checkout("f1")
    os.kill(server.vendord_pid(), signal.SIGKILL)
    seen = []
    while True:
        e = events.get(timeout=WAIT)
        seen.append(e["event"])
        if e["event"] == "reconnected":
            break
    assert seen[0] == "connection_lost", seen
    assert e["kept"] + e["reacquired"] == ["f1"]
    lic.status()
    failed, reconnects = job.heartbeat(minutes=10)
    assert (failed, reconnects) == (0, 1)
    lic.checkin()


def test_a_grace_period_keeps_the_license_while_the_server_is_cut_off(tmp_path):
    server = Server(tmp_path)
    try:
        job = demo_job(server, grace=3600, retry_interval=0.2)
        events = queue.Queue()
        job.on_event(events.put)
        lic = job.checkout("f1")
        server.stop()
        wait_until("failed attempts past the retry count", lambda: job.status()["failed_attempts"] > 5)
        status = job.status()
        assert status["held"] == 1 and status["connected"] == 0
        assert status["grace"].startswith("in grace until ")
        assert status["grace_until"] > 0
        assert status["error"] is not None
        lic.status()  # still usable
        assert any(e["event"] == "in_grace" for e in list(events.queue))
        with pytest.raises(lm.LicenseError):
            job.checkout("f2")  # nothing new without a server

        server.start()
        wait_until("the reconnect", lambda: job.status()["connected"] == 1)
        status = job.status()
        assert (status["held"], status["failed_attempts"], status["grace"]) == (1, 0, None)
        lic.status()
        # The seat is back on the server: three more, not four.
        other = demo_job(server)
        three = other.checkout("f1", count=3)
        with pytest.raises(lm.LicenseError) as info:
            other.checkout("f1")
        assert info.value.code == -4
        three.checkin()
        lic.checkin()
    finally:
        server.stop()


def test_restrictive_reports_a_lost_server_at_once(server):
    job = demo_job(server, policy="restrictive", retry_interval=0.2)
    events = queue.Queue()
    job.on_event(events.put)
    lic = job.checkout("f1")
    server.stop()
    kinds = []
    while "license_lost" not in kinds:
        kinds.append(events.get(timeout=WAIT)["event"])
    assert "reconnect_failed" not in kinds, kinds
    with pytest.raises(lm.LicenseError):
        lic.status()
