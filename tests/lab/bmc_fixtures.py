"""Fixtures that run the lab's BMC emulators for a test (module-scoped: starting them costs ~1 s).
Import the ones you use into a test module; every process started here is stopped at teardown."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from apps.hardware.drivers import BmcTarget, PowerState, RetryableBmcError, driver_for
from apps.lab.bmc import IpmiLabProcess, RedfishLab

USERNAME, PASSWORD = "admin", "lab-secret"


@pytest.fixture(scope="module")
def ipmi_lab() -> Iterator[IpmiLabProcess]:
    lab = IpmiLabProcess(on_event=lambda event: None)
    try:
        yield lab
    finally:
        lab.stop()
        assert lab.process.poll() is not None


@pytest.fixture(scope="module")
def redfish_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedfishLab]:
    lab = RedfishLab(on_event=lambda event: None, workdir=tmp_path_factory.mktemp("redfish"))
    try:
        yield lab
    finally:
        processes = [emulator.process for emulator in lab.emulators.values()]
        lab.stop()
        assert all(process is None or process.poll() is not None for process in processes)


def ipmi_target(port: int, *, password: str = PASSWORD, timeout: float = 5.0, host: str = "127.0.0.1", username: str = USERNAME) -> BmcTarget:
    return BmcTarget(protocol="ipmi", host=host, port=port, username=username, password=password, timeout=timeout)


def redfish_target(port: int, *, fingerprint: str = "", password: str = PASSWORD, timeout: float = 10.0) -> BmcTarget:
    return BmcTarget(protocol="redfish", host="127.0.0.1", port=port, username=USERNAME, password=password,
                     cert_fingerprint=fingerprint, timeout=timeout)


def wait_for(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.3) -> bool:
    """Bounded polling: the Redfish fake driver applies power changes 1–11 s later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def read_power(target: BmcTarget) -> PowerState | None:
    try:
        with driver_for(target) as driver:
            return driver.power_state()
    except RetryableBmcError:
        return None
