"""Every admin write goes through a service that snapshots the locked row and records the change.

The admin changes the object from its form *before* it calls save_model; a service that snapshots
that object sees no change (an admin edit of a server wrote no audit event). These tests drive each
ModelAdmin the way the admin does (form → save_form → save_model; bulk delete → delete_queryset)
and assert the audit events. A structural test covers every registered ModelAdmin."""
from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.messages.storage.fallback import FallbackStorage
from django.db import models
from django.test import RequestFactory

from apps.accounts import services as accounts
from apps.accounts.models import Project, SSHKey
from apps.audit.models import AuditEvent
from apps.facilities.models import Metro, Rack
from apps.hardware.models import Cable, Plan, Server, Switch
from apps.installs.models import DiscoveredMachine, OperatingSystem
from tests.factories import OrganizationFactory, ProjectFactory
from tests.hardware.factories import (
    CableFactory,
    FacilityFactory,
    NetworkInterfaceFactory,
    PlanFactory,
    ServerFactory,
    SwitchFactory,
    SwitchPortFactory,
)
from tests.installs.factories import OperatingSystemFactory

pytestmark = pytest.mark.django_db

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmCRW9nu1ihpV+9t6rTXs+yr2mX0uGbTNYV6Bw5qZ6v laptop"


def _request(user: Any) -> Any:
    request = RequestFactory().post("/admin/")
    request.user = user
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def admin_edit(staff: Any, obj: models.Model, **changes: Any) -> None:
    """What the admin's change view does with a valid form: the form changes `obj`, then save_model."""
    model_admin = admin.site._registry[type(obj)]
    request = _request(staff)
    form_class = model_admin.get_form(request, obj, change=True)
    initial = form_class(instance=obj).initial
    data = {}
    for name, value in initial.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = [getattr(v, "pk", v) for v in value]
        data[name] = value
    data.update(changes)
    form = form_class(data=data, instance=obj)
    assert form.is_valid(), form.errors
    changed = model_admin.save_form(request, form, change=True)
    model_admin.save_model(request, changed, form, change=True)


def admin_bulk_delete(staff: Any, model: type[models.Model], pks: list[Any]) -> None:
    model_admin = admin.site._registry[model]
    model_admin.delete_queryset(_request(staff), model.objects.filter(pk__in=pks))


def events(action: str, obj: models.Model) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_id=str(obj.pk)).order_by("id"))


@pytest.mark.parametrize(("make", "field", "value", "action"), [
    (lambda: ServerFactory(asset_tag="A-1"), "asset_tag", "A-2", "hardware.server.update"),
    (lambda: OperatingSystemFactory(name="Old name", plans=[PlanFactory()]), "name", "New name", "installs.operatingsystem.update"),
    (lambda: ProjectFactory(name="before"), "name", "after", "accounts.project.update"),
    (lambda: Metro.objects.create(code="zz", name="Old", country="NL"), "name", "New", "facilities.metro.update"),
    (lambda: PlanFactory(name="Old plan"), "name", "New plan", "hardware.plan.update"),
    (lambda: OrganizationFactory(name="Old org"), "name", "New org", "accounts.organization.update"),
    (lambda: SwitchFactory(model="qfx5100"), "model", "qfx5120", "hardware.switch.update"),
    (lambda: NetworkInterfaceFactory(speed_mbps=10000), "speed_mbps", 25000, "hardware.networkinterface.update"),
    (lambda: Rack.objects.create(facility=FacilityFactory(), name="r1", height_u=42), "name", "r2", "facilities.rack.update"),
])
def test_an_admin_edit_records_what_changed(staff_user, make, field, value, action):
    obj = make()
    before = getattr(obj, field)
    admin_edit(staff_user, obj, **{field: value})
    [event] = events(action, obj)
    assert event.changes[field] == [str(before) if not isinstance(before, int) else before, value] or \
        [str(v) for v in event.changes[field]] == [str(before), str(value)]
    assert event.actor_id == str(staff_user.pk)


def test_an_admin_edit_of_an_ssh_key_records_the_label(staff_user):
    key = accounts.ssh_key_create(label="old", key=KEY, project=ProjectFactory())
    admin_edit(staff_user, key, label="new")
    [event] = events("accounts.ssh_key.update", key)
    assert event.changes["label"] == ["old", "new"]


def test_a_project_cannot_be_moved_to_another_organization_in_the_admin(staff_user):
    project = ProjectFactory()
    other = OrganizationFactory()
    admin_edit(staff_user, project, organization=other.pk, name="renamed")
    project.refresh_from_db()
    assert project.organization_id != other.pk and project.name == "renamed"


@pytest.mark.parametrize(("make", "model", "action"), [
    (lambda: OperatingSystemFactory(), OperatingSystem, "installs.operatingsystem.delete"),
    (lambda: Metro.objects.create(code="zy", name="Gone", country="NL"), Metro, "facilities.metro.delete"),
    (lambda: PlanFactory(), Plan, "hardware.plan.delete"),
    (lambda: CableFactory(interface=NetworkInterfaceFactory(), port=SwitchPortFactory()), Cable, "hardware.cable.disconnect"),
    (lambda: DiscoveredMachine.objects.create(mac="02:00:00:00:00:99"), DiscoveredMachine, "installs.discoveredmachine.delete"),
    (lambda: SwitchFactory(), Switch, "hardware.switch.delete"),
    (lambda: ServerFactory(state="maintenance"), Server, "hardware.server.delete"),
    (lambda: accounts.ssh_key_create(label="k", key=KEY, project=ProjectFactory()), SSHKey, "accounts.ssh_key.delete"),
])
def test_a_bulk_admin_delete_goes_through_the_service(staff_user, make, model, action):
    obj = make()
    admin_bulk_delete(staff_user, model, [obj.pk])
    assert not model.objects.filter(pk=obj.pk).exists()
    assert AuditEvent.objects.filter(action=action).exists(), list(AuditEvent.objects.values_list("action", flat=True))


def test_a_bulk_delete_of_a_row_still_in_use_refuses_and_keeps_it(staff_user):
    plan = PlanFactory()
    ServerFactory(plan=plan)
    admin_bulk_delete(staff_user, Plan, [plan.pk])
    assert Plan.objects.filter(pk=plan.pk).exists()
    assert not AuditEvent.objects.filter(action="hardware.plan.delete").exists()


def test_deleting_a_project_in_the_admin_keeps_its_history(staff_user):
    project = ProjectFactory()
    admin_bulk_delete(staff_user, Project, [project.pk])
    assert not Project.objects.filter(pk=project.pk).exists() and Project.with_deleted.filter(pk=project.pk).exists()
    assert events("accounts.project.delete", project)


def test_every_admin_that_writes_does_so_through_a_service(admin_user):
    """No registered ModelAdmin may save or delete with Django's own save_model/delete_model/
    delete_queryset (no audit, no lock, no rules) where staff may change or delete."""
    request = _request(admin_user)
    plain = admin.ModelAdmin
    offenders = []
    for model, model_admin in admin.site._registry.items():
        if not model.__module__.startswith("apps."):
            continue  # Django's own users and groups (django.contrib.auth keeps its own history)
        cls = type(model_admin)
        writes = model_admin.has_change_permission(request) or model_admin.has_add_permission(request)
        if writes and cls.save_model is plain.save_model:
            offenders.append(f"{model._meta.label}: save_model")
        if model_admin.has_delete_permission(request):
            if cls.delete_model is plain.delete_model:
                offenders.append(f"{model._meta.label}: delete_model")
            if cls.delete_queryset is plain.delete_queryset:
                offenders.append(f"{model._meta.label}: delete_queryset")
    assert offenders == []
