"""The IPMI power driver with the real pyghmi client against the lab's IPMI BMCs (pyghmi's server
side, in its own process) over loopback; Debian's ipmitool as an independent second client."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.hardware.drivers import (
    BmcAuthError,
    BmcTimeout,
    BootDevice,
    BootSetting,
    PowerState,
    RetryableBmcError,
    driver_for,
    pyghmi_fixes,
)
from apps.hardware.drivers.deadline import abandoned_calls
from tests.lab.bmc_fixtures import PASSWORD, USERNAME, ipmi_lab, ipmi_target, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(120)


def ipmitool_power(port: int, host: str = "127.0.0.1") -> str:
    if shutil.which("ipmitool") is None:
        pytest.fail("ipmitool is not installed: apt-get install -y ipmitool (CI installs it)")
    result = subprocess.run(
        ["ipmitool", "-I", "lanplus", "-H", host, "-p", str(port), "-U", USERNAME, "-P", PASSWORD, "chassis", "power", "status"],
        capture_output=True, text=True, timeout=20, check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_every_operation_over_ipmi(ipmi_lab):  # noqa: F811
    port = ipmi_lab.add(name="ops", username=USERNAME, password=PASSWORD, server_id="srv-ops")
    with driver_for(ipmi_target(port)) as driver:
        assert driver.power_state() == PowerState.OFF

        driver.set_boot_device(BootDevice.NETWORK)
        assert driver.boot_device() == BootSetting(BootDevice.NETWORK, persistent=False)
        driver.power_on()
        assert driver.power_state() == PowerState.ON
        # The one-time override was used by that boot; the lab BMC saw a network boot.
        assert driver.boot_device().device == BootDevice.DEFAULT
        # Events arrive on the lab's reader thread: wait for them, bounded.
        assert wait_for(lambda: any(e.get("name") == "ops" for e in ipmi_lab.events), timeout=5)
        assert ipmi_lab.events[-1] == {"event": "power_on", "port": port, "name": "ops", "server_id": "srv-ops",
                                       "bootdev": "network", "protocol": "ipmi"}

        driver.set_boot_device(BootDevice.DISK, persistent=True)
        assert driver.boot_device() == BootSetting(BootDevice.DISK, persistent=True)
        events_before = len(ipmi_lab.events)
        driver.power_cycle()
        driver.reset()
        assert wait_for(lambda: len(ipmi_lab.events) >= events_before + 3, timeout=5)
        assert [(e["event"], e.get("bootdev")) for e in ipmi_lab.events[events_before:]] == [
            ("power_off", None), ("power_on", "disk"), ("power_on", "disk")]
        assert driver.power_state() == PowerState.ON

        driver.soft_off()
        assert driver.power_state() == PowerState.OFF
        driver.power_cycle()  # from off: on
        assert driver.power_state() == PowerState.ON
        driver.power_off()
        assert driver.power_state() == PowerState.OFF
        driver.set_boot_device(BootDevice.DEFAULT)
        assert driver.boot_device().device == BootDevice.DEFAULT
    state = ipmi_lab.state(port)
    assert (state["power"], state["bootdev"]) == ("off", "default")


def test_ipmitool_reads_the_power_state_the_platform_set(ipmi_lab):  # noqa: F811
    port = ipmi_lab.add(name="second-client", username=USERNAME, password=PASSWORD)
    with driver_for(ipmi_target(port)) as driver:
        driver.power_on()
    assert ipmitool_power(port) == "Chassis Power is on"
    with driver_for(ipmi_target(port)) as driver:
        driver.power_off()
    assert ipmitool_power(port) == "Chassis Power is off"


def test_ipv6_loopback(ipmi_lab):  # noqa: F811
    port = ipmi_lab.add(name="v6", username=USERNAME, password=PASSWORD, address="::1", power="on")
    with driver_for(ipmi_target(port, host="::1")) as driver:
        assert driver.power_state() == PowerState.ON
    assert ipmitool_power(port, host="::1") == "Chassis Power is on"


def test_wrong_password_is_fatal_at_once(ipmi_lab):  # noqa: F811
    port = ipmi_lab.add(name="wrong-password", username=USERNAME, password=PASSWORD)
    started = time.monotonic()
    with pytest.raises(BmcAuthError) as caught, driver_for(ipmi_target(port, password="not-the-password")) as driver:
        driver.power_state()
    assert time.monotonic() - started < 1.5
    assert not caught.value.retryable
    assert "not-the-password" not in str(caught.value) and "password on the BMC record" in str(caught.value)


def test_bmc_told_to_reject_the_password(ipmi_lab):  # noqa: F811
    port = ipmi_lab.add(name="rejecting", username=USERNAME, password=PASSWORD)
    ipmi_lab.set_mode(port, "reject_password")
    with pytest.raises(BmcAuthError), driver_for(ipmi_target(port)) as driver:
        driver.power_on()
    assert ipmi_lab.state(port)["power"] == "off"


def test_silent_bmc_ends_within_the_timeout_with_a_retryable_error(ipmi_lab):  # noqa: F811
    port = ipmi_lab.add(name="silent", username=USERNAME, password=PASSWORD)
    ipmi_lab.set_mode(port, "silent")
    before = abandoned_calls()
    started = time.monotonic()
    with pytest.raises(BmcTimeout) as caught, driver_for(ipmi_target(port, timeout=1.5)) as driver:
        driver.power_cycle()
    elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 4.0  # the call's deadline (1.5 s) plus the bounded close
    assert caught.value.retryable and isinstance(caught.value, RetryableBmcError)
    # pyghmi's session is ended at the deadline, so its thread is not left behind either.
    assert wait_for(lambda: abandoned_calls() <= before, timeout=2.0)


def test_a_bmc_that_falls_silent_in_a_logged_in_session_is_abandoned_at_the_deadline_without_a_logout_wait(ipmi_lab):  # noqa: F811
    # Ending the abandoned session must not log out through the BMC that stopped answering: pyghmi's logout sends
    # "close session" and waits for its answer, in the calling worker, after the deadline has already passed.
    port = ipmi_lab.add(name="falls-silent", username=USERNAME, password=PASSWORD, power="on")
    before = abandoned_calls()
    with driver_for(ipmi_target(port, timeout=1.5)) as driver:
        assert driver.power_state() == PowerState.ON
        ipmi_lab.set_mode(port, "silent")
        started = time.monotonic()
        with pytest.raises(BmcTimeout):
            driver.power_state()
        elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 1.9, f"{elapsed:.2f} s: the deadline is 1.5 s"
    assert wait_for(lambda: abandoned_calls() <= before, timeout=2.0)


def test_nothing_listening_is_retryable():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(RetryableBmcError), driver_for(ipmi_target(port, timeout=2.0)) as driver:
        driver.power_state()
    assert time.monotonic() - started < 4.5


def test_slow_bmc_answers_late_but_right_and_a_deadline_cuts_a_slower_one(ipmi_lab):  # noqa: F811
    port = ipmi_lab.add(name="slow", username=USERNAME, password=PASSWORD, power="on")
    ipmi_lab.set_mode(port, "slow", delay=0.4)
    started = time.monotonic()
    with driver_for(ipmi_target(port, timeout=8.0)) as driver:
        assert driver.power_state() == PowerState.ON
    assert time.monotonic() - started >= 0.4
    ipmi_lab.set_mode(port, "slow", delay=6.0)
    with pytest.raises(BmcTimeout), driver_for(ipmi_target(port, timeout=2.0)) as driver:
        driver.power_state()


def test_a_retry_after_an_abandoned_call_gets_a_fresh_session(ipmi_lab):  # noqa: F811
    # The cause of the flaky 100-BMC sync: a call abandoned at its deadline left pyghmi going on with
    # its session in the abandoned thread, holding the BMC's lock, so the sync's second ask timed out
    # behind it although the BMC answered. Here the stuck first call is a login pyghmi would wait on
    # for 100 s+ (an unknown user, LAB.md); the next call to that BMC must not wait behind it.
    port = ipmi_lab.add(name="stuck-once", username=USERNAME, password=PASSWORD, power="on")
    before = abandoned_calls()
    with pytest.raises(BmcTimeout), driver_for(ipmi_target(port, username="nobody", timeout=1.0)) as driver:
        driver.power_state()
    assert wait_for(lambda: abandoned_calls() <= before, timeout=2.0), "the abandoned call is still running"
    started = time.monotonic()
    with driver_for(ipmi_target(port, timeout=3.0)) as driver:
        assert driver.power_state() == PowerState.ON
    assert time.monotonic() - started < 3.0


def test_unknown_user_is_bounded_too(ipmi_lab):  # noqa: F811
    # pyghmi's server drops an unknown user's login, and pyghmi's client waits 100 s+ for it (LAB.md).
    port = ipmi_lab.add(name="unknown-user", username=USERNAME, password=PASSWORD)
    started = time.monotonic()
    with pytest.raises(BmcTimeout), driver_for(ipmi_target(port, username="nobody", timeout=1.0)) as driver:
        driver.power_state()
    assert time.monotonic() - started < 3.5


def test_parallel_calls_beside_silent_bmcs_do_not_deadlock(ipmi_lab, monkeypatch):  # noqa: F811
    # pyghmi retransmits to a silent BMC holding one of its locks and needing the other, while a
    # thread sending to a healthy BMC holds them in the opposite order (pyghmi_fixes merges them).
    # Slow sends widen the window: with pyghmi's two locks every healthy call here hung.
    from pyghmi.ipmi.private import session

    pyghmi_fixes.apply()
    send = session._io_sendto

    def slow_send(sock: object, packet: bytes, sockaddr: tuple) -> None:
        time.sleep(0.01)
        send(sock, packet, sockaddr)

    monkeypatch.setattr(session, "_io_sendto", slow_send)
    healthy = [ipmi_lab.add(name=f"par-{n}", username=USERNAME, password=PASSWORD, power="on") for n in range(12)]
    silent = [ipmi_lab.add(name=f"par-silent-{n}", username=USERNAME, password=PASSWORD) for n in range(4)]
    for port in silent:
        ipmi_lab.set_mode(port, "silent")

    def read(port: int) -> PowerState | RetryableBmcError:
        try:
            with driver_for(ipmi_target(port, timeout=6.0)) as driver:
                return driver.power_state()
        except RetryableBmcError as exc:
            return exc

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(healthy) + len(silent)) as pool:
        answers = dict(zip(healthy + silent, pool.map(read, healthy + silent), strict=True))
    elapsed = time.monotonic() - started
    assert [answers[port] for port in healthy] == [PowerState.ON] * len(healthy), answers
    assert all(isinstance(answers[port], RetryableBmcError) for port in silent), answers
    assert elapsed < 6.0 + 2.0 + 1.0  # one deadline and one bounded close, all in parallel
