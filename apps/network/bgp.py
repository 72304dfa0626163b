"""Every write of customer BGP: a project's configuration (ASN, local or global, MD5 password), a device's
sessions, and the refresh of the switches' filters when the project's address space changes.

A change recomputes the desired state of the server's routed port (`port_configure_for_server`), so the
sessions, their import filters and the interface go to the switch together, through the same locked,
confirmed, diffed commit, after the transaction commits.
"""
from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.hardware.models import Server, Switch
from apps.ipam.selectors import server_addresses
from apps.network.bgp_plan import FAMILY_NUMBER, server_neighbors, session_link
from apps.network.devices import DeviceRef
from apps.network.drivers import SwitchError, driver_for
from apps.network.models import AddressFamily, BgpConfig, BgpConfigStatus, BgpDeployment, BgpSession
from apps.network.port_plan import PROVISIONED_SERVER_STATES
from apps.network.services import port_configure_for_server, switch_target

# RFC 6996: 64512–65534 and 4200000000–4294967294 are for private use.
PRIVATE_ASNS = ((64512, 65534), (4200000000, 4294967294))
# RFC 7300 / 6793 / 5398 / 7607: never a peer's ASN.
RESERVED_ASNS = {0, 23456, 65535, 4294967295}
MD5_RULE = re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)[A-Za-z0-9]{10,20}$")


class BgpConflict(ValidationError):
    """The request contradicts what exists (a second session of one family); the API answers 422."""


def _private(asn: int) -> bool:
    return any(low <= asn <= high for low, high in PRIVATE_ASNS)


def _check_asn(asn: Any, deployment_type: str) -> int:
    try:
        value = int(asn)
    except (TypeError, ValueError):
        raise ValidationError({"asn": "The ASN is a whole number from 1 to 4294967294."}) from None
    if not 1 <= value <= 4294967294 or value in RESERVED_ASNS:
        raise ValidationError({"asn": f"AS{value} is out of range or reserved; use 1–4294967294 (not 23456 or 65535)."})
    if value == settings.BGP_SWITCH_ASN:
        raise ValidationError({"asn": f"AS{value} is the switches' own ASN; pick another (e.g. 65000)."})
    if deployment_type == BgpDeployment.LOCAL and not _private(value):
        raise ValidationError({"asn": f"Local BGP needs a private ASN (64512–65534 or 4200000000–4294967294); AS{value} is public."})
    if deployment_type == BgpDeployment.GLOBAL and _private(value):
        raise ValidationError({"asn": f"Global BGP needs your registered public ASN; AS{value} is private (use local BGP)."})
    return value


def bgp_config_request(*, project: Any, deployment_type: str, asn: Any, md5: str | None = None, use_case: str = "",
                       actor: Any = None) -> BgpConfig:
    """Enable BGP for a project (local: at once; global: `requested`, enabled by staff), or change its ASN or
    password. A new password or ASN reaches every session's switch port by a push after commit."""
    if deployment_type not in BgpDeployment.values:
        raise ValidationError({"deployment_type": f"'{deployment_type}' is not one of: {', '.join(BgpDeployment.values)}."})
    value = _check_asn(asn, deployment_type)
    if md5 and not MD5_RULE.match(md5):
        raise ValidationError({"md5": "The MD5 password is 10–20 letters and digits, with at least one lowercase letter, one uppercase "
                                      "letter and one digit, and no punctuation."})
    with transaction.atomic():
        config = BgpConfig.objects.select_for_update().filter(project=project).first()
        before = {} if config is None else {"asn": config.asn, "deployment_type": config.deployment_type, "md5": bool(config.md5)}
        if config is None:
            status = BgpConfigStatus.ENABLED if deployment_type == BgpDeployment.LOCAL else BgpConfigStatus.REQUESTED
            config = BgpConfig(project=project, status=status)
        elif config.deployment_type != deployment_type and BgpSession.objects.filter(project=project).exists():
            raise ValidationError({"deployment_type": "Delete the project's BGP sessions before changing between local and global BGP."})
        if (md5 or "") != (config.md5 or ""):
            config.md5_serial += 1
        config.deployment_type, config.asn, config.md5, config.use_case = deployment_type, value, md5 or "", use_case[:2000]
        config.save()
        after = {"asn": config.asn, "deployment_type": config.deployment_type, "md5": bool(config.md5)}
        audit_record(action="network.bgp_config.request", target=config, actor=actor, reason=use_case[:500],
                     changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v} | {"project": [None, str(project.pk)]})
        _refresh_servers(Server.objects.filter(bgp_sessions__project=project).distinct(), actor=actor, reason="project BGP changed")
    return config


def bgp_config_enable(*, config: BgpConfig, actor: Any = None, reason: str = "") -> BgpConfig:
    """Staff: enable a requested (global) configuration after review."""
    with transaction.atomic():
        locked = BgpConfig.objects.select_for_update().get(pk=config.pk)
        if locked.status != BgpConfigStatus.ENABLED:
            audit_record(action="network.bgp_config.enable", target=locked, actor=actor, reason=reason,
                         changes={"status": [locked.status, BgpConfigStatus.ENABLED]})
            locked.status = BgpConfigStatus.ENABLED
            locked.save(update_fields=["status"])
    return locked


def bgp_session_create(*, device: DeviceRef, address_family: str, default_route: bool = False, actor: Any = None) -> BgpSession:
    """A session of one address family for a live device; the switch gets it (and its filter) after commit."""
    if address_family not in AddressFamily.values:
        raise ValidationError({"address_family": f"'{address_family}' is not one of: {', '.join(AddressFamily.values)}."})
    with transaction.atomic():
        config = BgpConfig.objects.filter(project=device.project).first()
        if config is None:
            raise ValidationError({"device": f"Project {device.project.name} has no BGP: enable it first (POST /projects/{{id}}/bgp-configs)."})
        if config.status != BgpConfigStatus.ENABLED:
            raise ValidationError({"device": f"The project's {config.deployment_type} BGP is {config.status}: it waits for staff review."})
        if device.server is None:
            raise ValidationError({"device": f"Device {device.hostname} has no server yet; wait until it is provisioned."})
        server = Server.objects.select_for_update().get(pk=device.server.pk)
        if server.state not in PROVISIONED_SERVER_STATES:
            raise ValidationError({"device": f"Device {device.hostname}'s server is {server.state}; BGP needs a provisioned device."})
        links = [a for a in server_addresses(server) if a.device_id == device.id]
        family = FAMILY_NUMBER[AddressFamily(address_family)]
        if session_link(links, family, config.deployment_type) is None:
            raise ValidationError({"address_family": f"Device {device.hostname} has no {address_family} link to peer over."})
        if BgpSession.objects.filter(device_id=device.id, address_family=address_family).exists():
            raise BgpConflict({"address_family": f"Device {device.hostname} already has an {address_family} BGP session."})
        session = BgpSession.objects.create(project=device.project, device_id=device.id, server=server, address_family=address_family,
                                            default_route=bool(default_route))
        audit_record(action="network.bgp_session.create", target=session, actor=actor,
                     changes={"device": [None, str(device.id)], "address_family": [None, address_family], "default_route": [None, bool(default_route)]})
        port_configure_for_server(server=server, actor=actor, reason=f"BGP {address_family} session for {device.hostname}")
    return session


def bgp_session_update(*, session: BgpSession, default_route: bool, actor: Any = None) -> BgpSession:
    """Whether the switch sends the customer a default route on this session."""
    with transaction.atomic():
        locked = BgpSession.objects.select_for_update().get(pk=session.pk)
        if locked.default_route == bool(default_route):
            return locked
        audit_record(action="network.bgp_session.update", target=locked, actor=actor,
                     changes={"default_route": [locked.default_route, bool(default_route)]})
        locked.default_route = bool(default_route)
        locked.save(update_fields=["default_route", "updated_at"])
        port_configure_for_server(server=locked.server, actor=actor, reason=f"BGP {locked.address_family} default route changed")
    return locked


def bgp_session_delete(*, session: BgpSession, actor: Any = None) -> None:
    with transaction.atomic():
        locked = BgpSession.objects.select_for_update().filter(pk=session.pk).first()
        if locked is None:
            return
        audit_record(action="network.bgp_session.delete", target=locked, actor=actor,
                     changes={"device": [str(locked.device_id), None], "address_family": [locked.address_family, None]})
        server = locked.server
        locked.delete()
        port_configure_for_server(server=server, actor=actor, reason=f"BGP {session.address_family} session deleted")


def bgp_project_refresh(project_id: Any) -> int:
    """The project's reservations changed: recompute the filters of its sessions' ports (pushes after commit).
    Registered with ipam (NetworkConfig.ready); runs after the reservation's transaction, in its own."""
    with transaction.atomic():
        servers = Server.objects.filter(bgp_sessions__project_id=project_id).distinct()
        return _refresh_servers(servers, actor=None, reason="the project's IP reservations changed")


def _refresh_servers(servers: Any, *, actor: Any, reason: str) -> int:
    count = 0
    for server in servers.order_by("pk"):
        count += port_configure_for_server(server=server, actor=actor, reason=reason).changed
    return count


def bgp_session_status_refresh(*, switch_id: int) -> int:
    """Read the switch's BGP neighbors (device I/O through its driver: call it on the facility's workers) and record
    each of its sessions' status as the real service reports it: up (Established), down (any other state, or no
    such neighbor), unknown when the switch cannot be read. Returns how many sessions were read."""
    switch = Switch.objects.get(pk=switch_id)
    sessions = list(BgpSession.objects.filter(server__port_configs__switch_id=switch_id).distinct().select_related("server__facility__metro"))
    if not sessions:
        return 0
    try:
        states: dict[str, tuple[str, int]] | None = driver_for(switch.os).bgp_neighbor_states(switch_target(switch))
    except SwitchError:
        states = None
    now = timezone.now()
    for session in sessions:
        family = FAMILY_NUMBER[AddressFamily(session.address_family)]
        neighbor = next((n.customer_ip for n in server_neighbors(session.server, device_id=session.device_id) if n.family == family), None)
        state, accepted = (states or {}).get(neighbor or "", ("", 0))
        status = "unknown" if states is None else ("up" if state == "Established" else "down")
        BgpSession.objects.filter(pk=session.pk).update(status=status, status_read_at=now, accepted_prefixes=accepted)
    return len(sessions)
