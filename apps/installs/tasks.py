"""django-q2 entry points of the install workflow: take ids, call a service."""
from __future__ import annotations

from apps.audit.context import acting_as
from apps.installs import actions
from apps.installs.services import rescue, spot, workflow
from project.tasks import task_actor


def install_advance(install_id: str) -> str:
    install = workflow.install_advance(install_id=install_id)
    return f"{install.kind} {install.pk}: {install.state} at {install.step}"


def warm_up() -> str:
    """Load the workflow's code and device drivers and open the database connection in this worker,
    so that the first installs after a deploy do not pay for it in the middle of their steps
    (pyghmi and junos-eznc take most of a second to import). Safe to run any number of times."""
    import os

    from pyghmi.ipmi import command as _ipmi  # noqa: F401
    from pyghmi.redfish import command as _redfish  # noqa: F401

    from apps.hardware.drivers import pyghmi_fixes
    from apps.installs.models import Install
    from apps.network.drivers import junos  # noqa: F401

    pyghmi_fixes.apply()
    Install.objects.exists()
    return f"worker {os.getpid()} warm"


def installs_watchdog() -> dict[str, int]:
    return workflow.installs_watchdog()


def device_power_apply(device_id: str, action: str, actor_id: int | None = None) -> str:
    actor = task_actor(actor_id)
    with acting_as(actor):
        device = actions.device_power_settle(device_id=device_id, name=action, actor=actor)
    return f"{action} {device_id}: {device.state}"


def spot_market_check() -> dict[str, int]:
    return spot.spot_market_check()


def device_rescue_exit_apply(device_id: str, actor_id: int | None = None) -> str:
    actor = task_actor(actor_id)
    with acting_as(actor):
        device = rescue.device_rescue_exit_apply(device_id=device_id, actor=actor)
    return f"rescue exit {device_id}: {device.state}"
