"""Install.step is a state machine with an explicit table: WORKFLOWS lists each kind's steps in order
and step_move() refuses any other move; every platform step in the table has its implementation."""
from __future__ import annotations

import pytest

from apps.installs.models import InstallKind, InstallState
from apps.installs.services.runs import WAITS, WORKFLOWS, step_move
from apps.installs.services.steps import STEPS
from project.states import IllegalTransition
from tests.installs.factories import DeviceFactory, InstallFactory

pytestmark = pytest.mark.django_db


def test_every_platform_step_of_the_table_is_implemented_and_every_implementation_is_used():
    in_table = {step for steps in WORKFLOWS.values() for step in steps}
    assert in_table - WAITS == set(STEPS)
    assert set(WORKFLOWS) == set(InstallKind.values)
    for steps in WORKFLOWS.values():
        assert steps[-1] == "done" and len(set(steps)) == len(steps)


@pytest.fixture
def running(rack):
    device = DeviceFactory(plan=rack["plan"], facility=rack["facility"], operating_system=rack["os"])
    return InstallFactory(kind=InstallKind.PROVISION, device=device, state=InstallState.RUNNING, step="pick_server")


@pytest.mark.parametrize("to_step", ["netboot", "done", "pick_server", "begin_reinstall"])
def test_a_move_the_table_does_not_have_is_refused(running, to_step):
    with pytest.raises(IllegalTransition):
        step_move(running, from_step="pick_server", to_step=to_step)
    running.refresh_from_db()
    assert running.step == "pick_server"


def test_the_next_step_is_allowed(running):
    assert step_move(running, from_step="pick_server", to_step="addresses")
    running.refresh_from_db()
    assert running.step == "addresses"
