"""Power services against the lab's IPMI and Redfish BMCs: events, audit, retries with backoff
for retryable errors only, a clear reason on giving up, and the bounded power-state sync."""
from __future__ import annotations

import time

import pytest

from apps.audit.models import AuditEvent
from apps.hardware import power
from apps.hardware.models import BMC, BMCProtocol
from apps.hardware.power_models import PowerEvent, PowerOutcome
from tests.facilities.factories import FacilityFactory
from tests.hardware.factories import BMCFactory, PlanFactory, ServerFactory
from tests.lab.bmc_fixtures import PASSWORD, USERNAME, ipmi_lab, redfish_lab  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(180)]


def make_bmc(port: int, *, protocol: str = BMCProtocol.IPMI, password: str = PASSWORD, facility=None, plan=None, **extra) -> BMC:
    server = ServerFactory(facility=facility or FacilityFactory(), plan=plan or PlanFactory())
    return BMCFactory(server=server, protocol=protocol, host="127.0.0.1", port=port, username=USERNAME, password=password, **extra)


def test_power_action_is_an_event_and_an_audit_record(ipmi_lab, staff_user):  # noqa: F811
    port = ipmi_lab.add(name="svc-on", username=USERNAME, password=PASSWORD)
    bmc = make_bmc(port)
    event = power.server_power(server=bmc.server, action="on", actor=staff_user, source="admin")
    assert (event.outcome, event.attempt, event.protocol, event.source) == (PowerOutcome.OK, 1, "ipmi", "admin")
    assert event.duration_ms >= 0 and event.actor == staff_user and "@" in event.worker
    assert ipmi_lab.state(port)["power"] == "on"
    bmc.refresh_from_db()
    assert bmc.power_state == "on" and bmc.power_state_at is not None and bmc.last_error == ""
    audit = AuditEvent.objects.get(action="hardware.server.power.on", target_id=str(bmc.server.pk))
    assert audit.changes["outcome"] == [None, "ok"] and audit.actor_id == str(staff_user.pk)

    event = power.server_power(server=bmc.server, action="boot_network", source="admin")
    assert event.outcome == PowerOutcome.OK and ipmi_lab.state(port)["bootdev"] == "network"
    read = power.power_state_read(server=bmc.server)
    assert read.power_state == "on"


def test_request_goes_through_the_task_after_commit(ipmi_lab, staff_user, django_capture_on_commit_callbacks):  # noqa: F811
    port = ipmi_lab.add(name="svc-queued", username=USERNAME, password=PASSWORD, power="on")
    bmc = make_bmc(port)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        power.server_power_request(server=bmc.server, action="cycle", actor=staff_user)
    assert not PowerEvent.objects.filter(server=bmc.server).exists()  # nothing before commit
    for callback in callbacks:
        callback()  # tasks run inline in tests (METALYARD_TASKS_SYNC)
    event = PowerEvent.objects.get(server=bmc.server)
    assert (event.action, event.outcome, event.actor) == ("cycle", "ok", staff_user)


def test_silent_bmc_is_retried_with_backoff_then_given_up_with_a_reason(ipmi_lab):  # noqa: F811
    port = ipmi_lab.add(name="svc-silent", username=USERNAME, password=PASSWORD)
    ipmi_lab.set_mode(port, "silent")
    bmc = make_bmc(port)
    waits: list[float] = []
    started = time.monotonic()
    event = power.server_power(server=bmc.server, action="cycle", attempts=3, backoff=0.25, timeout=1.0, sleep=waits.append)
    elapsed = time.monotonic() - started
    assert waits == [0.25, 0.5]  # exponential backoff between the three attempts
    assert elapsed < 3 * 1.0 + 3 * 2.0  # three bounded attempts (each with a bounded close)
    outcomes = list(PowerEvent.objects.filter(server=bmc.server).order_by("attempt").values_list("attempt", "outcome", "error_code"))
    assert outcomes == [(1, "retryable", "bmc_timeout"), (2, "retryable", "bmc_timeout"), (3, "gave_up", "bmc_timeout")]
    assert event.outcome == PowerOutcome.GAVE_UP
    bmc.refresh_from_db()
    assert "Power cycle failed after 3 attempt(s)" in bmc.last_error and "check its management network" in bmc.last_error
    assert AuditEvent.objects.filter(action="hardware.server.power.cycle", changes__outcome=[None, "gave_up"]).count() == 1


def test_wrong_password_is_not_retried_and_never_logged(ipmi_lab):  # noqa: F811
    port = ipmi_lab.add(name="svc-badpw", username=USERNAME, password=PASSWORD)
    bmc = make_bmc(port, password="Wr0ng-S3cret-Value")
    waits: list[float] = []
    event = power.server_power(server=bmc.server, action="on", attempts=3, backoff=0.1, sleep=waits.append)
    first = PowerEvent.objects.filter(server=bmc.server).order_by("attempt").first()
    assert (event.outcome, event.attempt, event.error_code, waits) == (PowerOutcome.FATAL, 1, "bmc_auth", []), first.message
    bmc.refresh_from_db()
    assert "rejected the credentials" in bmc.last_error and "not retried" in bmc.last_error
    # The password is encrypted at rest and appears in no event, no audit record, no error.
    raw = BMC.objects.filter(pk=bmc.pk).values_list("password", flat=True)
    assert "Wr0ng-S3cret-Value" not in str(list(raw.query.get_compiler("default").execute_sql(result_type="single") or []))
    texts = [bmc.last_error, event.message] + [str(a.changes) + a.reason for a in AuditEvent.objects.all()]
    assert not any("Wr0ng-S3cret-Value" in text for text in texts)


def test_server_without_a_usable_bmc_is_refused_with_what_to_do():
    server = ServerFactory()
    with pytest.raises(power.NoUsableBmc, match="no BMC record"):
        power.server_power(server=server, action="on")
    bmc = BMCFactory(server=server, port=0)
    with pytest.raises(power.NoUsableBmc, match="start the lab"):
        power.server_power_request(server=bmc.server, action="on")


def test_sync_over_100_bmcs_with_5_silent_is_bounded_and_flags_exactly_those(ipmi_lab):  # noqa: F811
    facility, plan = FacilityFactory(code="sy1"), PlanFactory()
    bmcs = []
    for n in range(100):
        port = ipmi_lab.add(name=f"sync-{n}", username=USERNAME, password=PASSWORD, power="on" if n % 2 else "off")
        bmcs.append(make_bmc(port, facility=facility, plan=plan, power_state="on" if n % 2 else "off"))
    silent = bmcs[7::20]
    for bmc in silent:
        ipmi_lab.set_mode(bmc.port, "silent")
    started = time.monotonic()
    report = power.power_state_sync(facility_code="sy1", concurrency=20, timeout=8.0)
    elapsed = time.monotonic() - started
    failures = list(PowerEvent.objects.filter(action="sync").exclude(outcome="ok").values_list("server__bmc__port", "message"))
    assert sorted(report.failed) == sorted(str(b.server_id) for b in silent), failures
    assert report.checked == 100 and report.ok == 95 and report.drift == []
    # Serially the five silent BMCs alone would cost 5 × 2 × 8 s; in parallel they cost two timeouts
    # (generous deadlines: a loaded 2-core machine can starve pyghmi's I/O thread for seconds).
    assert elapsed < 2 * 8.0 + 10.0, f"sync took {elapsed:.1f} s"
    failed_events = PowerEvent.objects.filter(action="sync", outcome=PowerOutcome.GAVE_UP)
    assert sorted(str(s) for s in failed_events.values_list("server_id", flat=True)) == sorted(report.failed)
    assert all("Power-state sync" in b.last_error for b in BMC.objects.filter(pk__in=[b.pk for b in silent]))


def test_sync_records_drift(ipmi_lab):  # noqa: F811
    facility = FacilityFactory(code="dr1")
    believed_on = make_bmc(ipmi_lab.add(name="drift", username=USERNAME, password=PASSWORD, power="off"), facility=facility, power_state="on")
    unknown = make_bmc(ipmi_lab.add(name="unknown", username=USERNAME, password=PASSWORD, power="on"), facility=facility)
    report = power.power_state_sync(facility_code="dr1", timeout=10.0)
    assert report.drift == [str(believed_on.server_id)] and report.ok == 1
    event = PowerEvent.objects.get(server=believed_on.server, action="sync")
    assert event.outcome == PowerOutcome.DRIFT and "believed the server was on; the BMC says off" in event.message
    believed_on.refresh_from_db()
    unknown.refresh_from_db()
    assert (believed_on.power_state, unknown.power_state) == ("off", "on")


@pytest.mark.slow
def test_redfish_certificate_learned_then_pinned_on_the_record(redfish_lab):  # noqa: F811
    emulator = redfish_lab.add(name="svc-rf", username=USERNAME, password=PASSWORD)
    bmc = make_bmc(emulator.port, protocol=BMCProtocol.REDFISH)
    assert bmc.cert_fingerprint == ""
    event = power.power_state_read(server=bmc.server)
    assert event.outcome == PowerOutcome.OK and event.power_state == "off"
    bmc.refresh_from_db()
    assert bmc.cert_fingerprint == emulator.fingerprint

    BMC.objects.filter(pk=bmc.pk).update(cert_fingerprint="cd" * 32)  # as if the certificate had changed
    event = power.server_power(server=bmc.server, action="on", attempts=3, sleep=lambda s: None)
    assert (event.outcome, event.attempt, event.error_code) == (PowerOutcome.FATAL, 1, "bmc_certificate")
    bmc.refresh_from_db()
    assert "certificate changed" in bmc.last_error


def test_several_actions_run_in_order_over_one_session_and_stop_at_a_refusal(ipmi_lab):  # noqa: F811
    port = ipmi_lab.add(name="svc-many", username=USERNAME, password=PASSWORD, power="on")
    bmc = make_bmc(port)
    events = power.server_power_many(server=bmc.server, actions=["boot_network", "off", "on"], source="install")
    assert [(e.action, e.outcome) for e in events] == [("boot_network", "ok"), ("off", "ok"), ("on", "ok")]
    assert ipmi_lab.state(port)["power"] == "on"
    # The machine powered on from the network: the one-time override was in place when it booted.
    # (The lab's events arrive on a reader thread, so wait for them, bounded.)
    def last_two() -> list:
        return [(e["event"], e.get("bootdev")) for e in ipmi_lab.events if e.get("port") == port][-2:]

    deadline = time.monotonic() + 5
    while last_two() != [("power_off", None), ("power_on", "network")] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert last_two() == [("power_off", None), ("power_on", "network")]

    refused = make_bmc(port, password="not-the-password")
    events = power.server_power_many(server=refused.server, actions=["off", "on"], source="install")
    assert [(e.action, e.outcome) for e in events] == [("off", "fatal")]  # "on" never ran
    assert ipmi_lab.state(port)["power"] == "on"
