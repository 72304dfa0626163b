"""The Redfish power driver with pyghmi's Redfish client (HTTPS only) against the lab's
sushy-emulator BMCs: certificate pinning, credentials, silence, refusal, every operation."""
from __future__ import annotations

import socket
import time

import pytest

from apps.hardware.drivers import (
    BmcAuthError,
    BmcCertificateMismatch,
    BmcTimeout,
    BmcUnreachable,
    BootDevice,
    PowerState,
    driver_for,
)
from apps.hardware.drivers.redfish import normalise_fingerprint
from tests.lab.bmc_fixtures import PASSWORD, USERNAME, read_power, redfish_lab, redfish_target, wait_for  # noqa: F401

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
# The fake driver applies a power change 1–11 s after the request.
POWER_WAIT = 20.0


@pytest.fixture(scope="module")
def emulator(redfish_lab):  # noqa: F811
    return redfish_lab.add(name="rf-ops", username=USERNAME, password=PASSWORD, server_id="srv-rf")


def test_every_operation_over_redfish(emulator, redfish_lab):  # noqa: F811
    target = redfish_target(emulator.port, fingerprint=emulator.fingerprint)
    with driver_for(target) as driver:
        assert driver.power_state() == PowerState.OFF
        driver.set_boot_device(BootDevice.NETWORK)
        assert driver.boot_device().device == BootDevice.NETWORK
        driver.power_on()
    assert wait_for(lambda: read_power(target) == PowerState.ON, timeout=POWER_WAIT)
    assert redfish_lab.events[-1]["bootdev"] == "network" and redfish_lab.events[-1]["server_id"] == "srv-rf"

    with driver_for(target) as driver:
        driver.set_boot_device(BootDevice.DISK, persistent=True)
        # sushy's fake driver always reports "Continuous", so only the device is compared.
        assert driver.boot_device().device == BootDevice.DISK
        driver.power_cycle()  # ForceRestart: off now, on again within seconds
    assert wait_for(lambda: read_power(target) == PowerState.ON, timeout=POWER_WAIT)
    with driver_for(target) as driver:
        driver.reset()
    # ForceRestart reads "off" until the fake driver applies it; an off request meanwhile would be a no-op.
    assert wait_for(lambda: read_power(target) == PowerState.ON, timeout=POWER_WAIT)
    with driver_for(target) as driver:
        driver.power_off()
    assert wait_for(lambda: read_power(target) == PowerState.OFF, timeout=POWER_WAIT)
    with driver_for(target) as driver:
        driver.power_on()
    assert wait_for(lambda: read_power(target) == PowerState.ON, timeout=POWER_WAIT)
    with driver_for(target) as driver:
        driver.soft_off()
    assert wait_for(lambda: read_power(target) == PowerState.OFF, timeout=POWER_WAIT)


def test_certificate_learned_on_first_contact_then_pinned(emulator):
    driver = driver_for(redfish_target(emulator.port))  # no fingerprint on record yet
    assert driver.power_state() in (PowerState.ON, PowerState.OFF)
    assert driver.learned_fingerprint == emulator.fingerprint

    openssl_form = ":".join(emulator.fingerprint[i:i + 2] for i in range(0, 64, 2)).upper()
    assert normalise_fingerprint(openssl_form) == emulator.fingerprint
    with driver_for(redfish_target(emulator.port, fingerprint=openssl_form)) as pinned:
        pinned.power_state()
        assert pinned.learned_fingerprint is None


def test_changed_certificate_is_fatal_and_explained(emulator):
    with pytest.raises(BmcCertificateMismatch) as caught, driver_for(redfish_target(emulator.port, fingerprint="ab" * 32)) as driver:
        driver.power_on()
    assert not caught.value.retryable
    assert "certificate changed" in str(caught.value) and "BMC record" in str(caught.value)


def test_wrong_password_is_fatal_at_once(emulator):
    started = time.monotonic()
    with pytest.raises(BmcAuthError) as caught:
        driver_for(redfish_target(emulator.port, fingerprint=emulator.fingerprint, password="nope")).power_state()
    assert time.monotonic() - started < 3 and not caught.value.retryable


def test_misbehaving_redfish_bmc(redfish_lab):  # noqa: F811
    emulator = redfish_lab.add(name="rf-bad", username=USERNAME, password=PASSWORD)
    target = redfish_target(emulator.port, fingerprint=emulator.fingerprint, timeout=2.0)
    emulator.set_mode("reject_password")
    with pytest.raises(BmcAuthError):
        driver_for(target).power_state()
    emulator.set_mode("silent")
    started = time.monotonic()
    with pytest.raises(BmcTimeout):
        driver_for(target).power_state()
    assert time.monotonic() - started < 3.0
    emulator.set_mode("ok")
    assert wait_for(lambda: read_power(target) == PowerState.OFF, timeout=10)


def test_slow_redfish_bmc_answers_late_but_right_and_a_deadline_cuts_a_slower_one(redfish_lab):  # noqa: F811
    emulator = redfish_lab.add(name="rf-slow", username=USERNAME, password=PASSWORD, power="on")
    target = redfish_target(emulator.port, fingerprint=emulator.fingerprint, timeout=10.0)
    emulator.set_mode("slow", delay=0.4)
    started = time.monotonic()
    with driver_for(target) as driver:
        assert driver.power_state() == PowerState.ON
    # pyghmi reads the service root and the system at least: two late answers, within the deadline.
    assert 0.8 <= time.monotonic() - started < 10.0

    emulator.set_mode("slow", delay=6.0)
    started = time.monotonic()
    with pytest.raises(BmcTimeout) as caught, driver_for(redfish_target(emulator.port, fingerprint=emulator.fingerprint, timeout=2.0)) as driver:
        driver.power_state()
    assert caught.value.retryable
    assert 1.9 < time.monotonic() - started < 3.0  # the deadline, not the BMC, ended it

    emulator.set_mode("ok")  # answers at once again, while the emulator still finishes the late ones
    started = time.monotonic()
    assert read_power(target) == PowerState.ON and time.monotonic() - started < 5.0


def test_refused_connection_is_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BmcUnreachable) as caught:
        driver_for(redfish_target(port, timeout=3.0)).power_state()
    assert caught.value.retryable
