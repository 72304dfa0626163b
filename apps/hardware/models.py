"""The hardware inventory: plans, servers and their NICs and BMCs, switches, switch ports, cables,
the rack space they occupy, and the commissioning reports and findings of each server.

Writes go through apps.hardware.services; the invariants a single row can check live in
`clean()`, and the database backs each one that a constraint can express.
"""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Q

from apps.facilities.models import Facility, Rack
from apps.hardware.drivers.base import PowerState
from apps.hardware.fields import MACAddressField
from project.encryption import EncryptedTextField
from project.states import freeze

sha256_hex_validator = RegexValidator(r"^[0-9a-f]{64}$", "A SHA-256 fingerprint is 64 lower-case hex digits (no colons).")
slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9.\-]*$", "Use lower-case letters, digits, dots and dashes (e.g. 'c3.small.x86').")
port_name_validator = RegexValidator(r"^\S+$", "A port name has no spaces (e.g. 'xe-0/0/12').")
MOUNT_FIELDS = frozenset({"rack", "rack_id", "position_u", "height_u", "facility", "facility_id"})


# ---------------------------------------------------------------------------------------------- plans


class Plan(models.Model):
    """What a customer orders: a hardware configuration with an hourly price, offered in some facilities."""

    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator], help_text="e.g. 'c3.small.x86'")
    name = models.CharField(max_length=100)
    line = models.CharField(max_length=30, default="baremetal", help_text="Product line, e.g. 'baremetal'.")
    cpu_model = models.CharField(max_length=100, help_text="As the discovery image reports it, e.g. 'AMD EPYC 7402P'.")
    cpu_count = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    cpu_cores = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)], help_text="Cores per CPU.")
    ram_gb = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    disks = models.JSONField(default=list, blank=True, help_text='e.g. [{"count": 2, "size_gb": 480, "type": "ssd"}]')
    nic_count = models.PositiveSmallIntegerField(default=2)
    nic_speed_gbps = models.PositiveSmallIntegerField(default=10)
    price_hourly = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))])
    height_u = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(10)],
                                                help_text="Rack units a server of this plan takes (default for onboarding).")
    facilities = models.ManyToManyField(Facility, blank=True, related_name="plans", help_text="Where this plan is offered.")

    class Meta:
        ordering = ["slug"]
        constraints = [models.CheckConstraint(condition=Q(price_hourly__gte=0), name="plan_price_not_negative")]

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        if not isinstance(self.disks, list):
            raise ValidationError({"disks": "Disks are a list of {\"count\", \"size_gb\", \"type\"} objects."})
        for index, disk in enumerate(self.disks, start=1):
            if not isinstance(disk, dict) or set(disk) != {"count", "size_gb", "type"}:
                raise ValidationError({"disks": f"Disk entry {index} must have exactly the keys count, size_gb and type."})
            if not (isinstance(disk["count"], int) and disk["count"] >= 1 and isinstance(disk["size_gb"], int) and disk["size_gb"] >= 1):
                raise ValidationError({"disks": f"Disk entry {index}: count and size_gb are positive whole numbers."})


# ---------------------------------------------------------------------------------------------- rack space


class Mounted(models.Model):
    """Something that sits in a rack: a facility, optionally a rack, its lowest U and its height.

    Overlap between *different* tables (a server and a switch) cannot be a unique constraint on
    either table, so every mounted row also writes one RackUnit row per U it takes; RackUnit's
    unique (rack, u) is the database's guarantee that two things never share a U, on SQLite and
    PostgreSQL alike, whoever writes. `save()` keeps those rows in step.
    """

    RACK_UNIT_FIELD = ""  # "server" or "switch": the RackUnit column that points back here

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+")
    rack = models.ForeignKey(Rack, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    position_u = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Lowest U it occupies (U1 is the bottom).")
    height_u = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(10)])

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        adding = self._state.adding
        touches_mount = adding or update_fields is None or bool(MOUNT_FIELDS & set(update_fields))
        if not touches_mount or (not adding and getattr(self, "_loaded_mount", None) == self._mount_key()):
            super().save(*args, **kwargs)
            return
        errors = self.mount_errors(check_overlap=False)
        if errors:
            raise ValidationError(errors)
        with transaction.atomic():
            super().save(*args, **kwargs)
            sync_rack_units([self])
        self._loaded_mount = self._mount_key()

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Any:
        instance = super().from_db(db, field_names, values)
        instance._loaded_mount = instance._mount_key()
        return instance

    def _mount_key(self) -> tuple[Any, ...]:
        return tuple(self.__dict__.get(name) for name in ("facility_id", "rack_id", "position_u", "height_u"))

    @property
    def top_u(self) -> int | None:
        return None if self.position_u is None else self.position_u + self.height_u - 1

    @property
    def units(self) -> range:
        return range(self.position_u, self.position_u + self.height_u) if self.rack_id and self.position_u else range(0)

    def mount_errors(self, rack: Rack | None = None, *, check_overlap: bool = True) -> dict[str, str]:
        """Why this placement is impossible ({field: message}); empty when it fits."""
        errors: dict[str, str] = {}
        rack = rack or (self.rack if self.rack_id else None)
        if rack is None:
            if self.position_u is not None:
                errors["position_u"] = "A U position needs a rack: choose the rack or clear the position."
            return errors
        if self.facility_id and rack.facility_id != self.facility_id:
            errors["rack"] = (f"Rack {rack} is in facility {rack.facility.code}, not in this {self._meta.verbose_name}'s facility; "
                              "pick a rack of the same facility.")
        if self.position_u is None:
            errors["position_u"] = f"Give the lowest U it occupies in rack {rack} (1–{rack.height_u})."
            return errors
        if self.position_u < 1:
            errors["position_u"] = "U positions start at U1 (the bottom of the rack)."
        elif self.position_u + self.height_u - 1 > rack.height_u:
            errors["position_u"] = (f"U{self.position_u} with height {self.height_u}U reaches U{self.position_u + self.height_u - 1}, "
                                    f"above the top of rack {rack} (U{rack.height_u}).")
        if check_overlap and "position_u" not in errors:
            wanted = list(range(self.position_u, self.position_u + self.height_u))
            clash = (RackUnit.objects.filter(rack=rack, u__in=wanted).exclude(**{f"{self.RACK_UNIT_FIELD}_id": self.pk})
                     .select_related("server", "switch").order_by("u").first())
            if clash is not None:
                errors["position_u"] = f"U{clash.u} of rack {rack} is already taken by {clash.occupant_label}; choose free units."
        return errors

    def clean(self) -> None:
        super().clean()
        errors = self.mount_errors()
        if errors:
            raise ValidationError(errors)


def sync_rack_units(objects: list[Mounted]) -> None:
    """Rewrite the RackUnit rows of `objects` (all of one model). Raises ValidationError on overlap."""
    if not objects:
        return
    field = objects[0].RACK_UNIT_FIELD
    RackUnit.objects.filter(**{f"{field}__in": [o.pk for o in objects]}).delete()
    rows = [RackUnit(rack_id=o.rack_id, u=u, **{f"{field}_id": o.pk}) for o in objects for u in o.units]
    try:
        with transaction.atomic():
            RackUnit.objects.bulk_create(rows)
    except IntegrityError as exc:
        raise ValidationError({"position_u": "Another server or switch already occupies one of these rack units (someone may have "
                                             "mounted it at the same moment); reload the rack elevation and choose free units."}) from exc


class RackUnit(models.Model):
    """One U of a rack taken by one server or switch: the index that makes overlaps impossible."""

    rack = models.ForeignKey(Rack, on_delete=models.CASCADE, related_name="units")
    u = models.PositiveSmallIntegerField()
    server = models.ForeignKey("Server", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    switch = models.ForeignKey("Switch", on_delete=models.CASCADE, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["rack", "u"]
        constraints = [
            models.UniqueConstraint(fields=["rack", "u"], name="rackunit_one_occupant",
                                    violation_error_message="This rack unit is already occupied."),
            models.CheckConstraint(condition=Q(u__gte=1), name="rackunit_u_positive"),
            models.CheckConstraint(condition=(Q(server__isnull=False, switch__isnull=True) | Q(server__isnull=True, switch__isnull=False)),
                                   name="rackunit_server_xor_switch"),
        ]

    def __str__(self) -> str:
        return f"{self.rack_id} U{self.u}"

    @property
    def occupant_label(self) -> str:
        if self.server_id:
            return f"server {self.server.serial}"
        return f"switch {self.switch.hostname}"


def _mount_constraints(prefix: str) -> list[models.BaseConstraint]:
    return [
        models.CheckConstraint(condition=Q(position_u__isnull=True) | Q(position_u__gte=1), name=f"{prefix}_position_from_u1",
                               violation_error_message="U positions start at U1."),
        models.CheckConstraint(condition=Q(height_u__gte=1), name=f"{prefix}_height_positive"),
        models.CheckConstraint(condition=Q(rack__isnull=True, position_u__isnull=True) | Q(rack__isnull=False, position_u__isnull=False),
                               name=f"{prefix}_rack_needs_position",
                               violation_error_message="A rack and a U position go together."),
    ]


# ---------------------------------------------------------------------------------------------- servers


class ServerState(models.TextChoices):
    NEW = "new", "New"
    COMMISSIONING = "commissioning", "Commissioning"
    READY = "ready", "Ready"
    ALLOCATED = "allocated", "Allocated"
    PROVISIONING = "provisioning", "Provisioning"
    ACTIVE = "active", "Active"
    DEPROVISIONING = "deprovisioning", "Deprovisioning"
    CLEANING = "cleaning", "Cleaning"
    MAINTENANCE = "maintenance", "Maintenance"
    FAILED = "failed", "Failed"


S = ServerState
_ANYWHERE = {S.MAINTENANCE, S.FAILED}


class Server(Mounted):
    """One physical machine. Its state moves only through services.server_transition()."""

    RACK_UNIT_FIELD = "server"
    TRANSITIONS = freeze({
        S.NEW: {S.COMMISSIONING} | _ANYWHERE,
        S.COMMISSIONING: {S.READY} | _ANYWHERE,
        S.READY: {S.ALLOCATED, S.COMMISSIONING} | _ANYWHERE,
        S.ALLOCATED: {S.PROVISIONING, S.READY} | _ANYWHERE,
        # provisioning → deprovisioning: an install that is given up is cleaned up like a delete.
        S.PROVISIONING: {S.ACTIVE, S.DEPROVISIONING} | _ANYWHERE,
        # active → provisioning: a reinstall.
        S.ACTIVE: {S.DEPROVISIONING, S.PROVISIONING} | _ANYWHERE,
        S.DEPROVISIONING: {S.CLEANING} | _ANYWHERE,
        S.CLEANING: {S.READY} | _ANYWHERE,
        # Out of maintenance: re-onboard, re-commission, straight back to the pool, or finish a wipe;
        # a server taken into maintenance under a customer's device is wiped when that device is deleted.
        S.MAINTENANCE: {S.NEW, S.COMMISSIONING, S.READY, S.CLEANING, S.DEPROVISIONING, S.FAILED},
        # A failed server is looked at by a human first.
        S.FAILED: {S.MAINTENANCE},
    })
    # Every move is kept as a StateChange row (utilisation over time is drawn from it).
    STATE_HISTORY = True
    # Named groups for the other apps.
    IN_POOL = frozenset({S.READY})
    IN_USE = frozenset({S.ALLOCATED, S.PROVISIONING, S.ACTIVE, S.DEPROVISIONING})
    OUT_OF_SERVICE = frozenset({S.MAINTENANCE, S.FAILED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    serial = models.CharField(max_length=64, unique=True, validators=[RegexValidator(r"^\S+$", "A serial number has no spaces.")])
    asset_tag = models.CharField(max_length=64, blank=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="servers")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="servers")
    rack = models.ForeignKey(Rack, on_delete=models.PROTECT, null=True, blank=True, related_name="servers")
    state = models.CharField(max_length=20, choices=ServerState.choices, default=ServerState.NEW, editable=False, db_index=True)
    state_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    state_reason = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["facility__code", "serial"]
        indexes = [models.Index(fields=["facility", "state"], name="server_facility_state")]
        constraints = [
            *_mount_constraints("server"),
            models.CheckConstraint(condition=Q(state__in=ServerState.values), name="server_state_known"),
        ]

    def __str__(self) -> str:
        return self.serial


class NetworkInterface(models.Model):
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="interfaces")
    name = models.CharField(max_length=32, validators=[port_name_validator], help_text="As the OS names it, e.g. 'eth0'.")
    mac = MACAddressField(unique=True, verbose_name="MAC", error_messages={"unique": "This MAC address is already on another NIC."})
    speed_mbps = models.PositiveIntegerField(default=10000)

    class Meta:
        ordering = ["server", "name"]
        verbose_name = "network interface"
        constraints = [models.UniqueConstraint(fields=["server", "name"], name="nic_name_unique_per_server",
                                               violation_error_message="This server already has a NIC of that name.")]

    def __str__(self) -> str:
        return f"{self.server.serial}/{self.name}" if self.server_id else self.name


class BMCProtocol(models.TextChoices):
    IPMI = "ipmi", "IPMI over LAN"
    REDFISH = "redfish", "Redfish (HTTPS)"


BMC_DEFAULT_PORT = {BMCProtocol.IPMI: 623, BMCProtocol.REDFISH: 443}


POWER_STATE_CHOICES = [(state.value, state.value.capitalize()) for state in PowerState]


class BMC(models.Model):
    """The out-of-band controller of one server; its password is encrypted at rest."""

    server = models.OneToOneField(Server, on_delete=models.CASCADE, related_name="bmc")
    protocol = models.CharField(max_length=10, choices=BMCProtocol.choices, default=BMCProtocol.IPMI)
    host = models.CharField(max_length=255, help_text="Management IP address or DNS name.")
    # 0 is a placeholder for "not assigned yet" (the lab assigns real ports when it starts).
    port = models.PositiveIntegerField(default=623, validators=[MaxValueValidator(65535)])
    username = models.CharField(max_length=64)
    password = EncryptedTextField()
    cert_fingerprint = models.CharField(max_length=64, blank=True, validators=[sha256_hex_validator],
                                        help_text="Redfish: SHA-256 of the BMC's TLS certificate (pinning).")
    power_state = models.CharField(max_length=10, choices=POWER_STATE_CHOICES, default=PowerState.UNKNOWN)
    power_state_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = "BMC"
        verbose_name_plural = "BMCs"
        constraints = [models.CheckConstraint(condition=Q(port__lte=65535), name="bmc_port_range")]

    def __str__(self) -> str:
        return f"{self.protocol}://{self.host}:{self.port}"


# ---------------------------------------------------------------------------------------------- switches


class SwitchOS(models.TextChoices):
    JUNOS = "junos", "Junos"


class Switch(Mounted):
    """A top-of-rack switch reached over NETCONF; credentials encrypted at rest."""

    RACK_UNIT_FIELD = "switch"

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="switches")
    rack = models.ForeignKey(Rack, on_delete=models.PROTECT, null=True, blank=True, related_name="switches")
    hostname = models.CharField(max_length=100, unique=True)
    os = models.CharField(max_length=20, choices=SwitchOS.choices, default=SwitchOS.JUNOS, verbose_name="OS")
    model = models.CharField(max_length=50, blank=True, help_text="e.g. 'qfx5120-48y'")
    mgmt_host = models.CharField(max_length=255, verbose_name="management host")
    mgmt_port = models.PositiveIntegerField(default=830, validators=[MaxValueValidator(65535)], verbose_name="management port")
    username = models.CharField(max_length=64)
    password = EncryptedTextField()
    host_key_fingerprint = models.CharField(max_length=128, blank=True, help_text="SSH host key fingerprint to pin (SHA256:…).")

    class Meta:
        ordering = ["hostname"]
        verbose_name_plural = "switches"
        constraints = _mount_constraints("switch")

    def __str__(self) -> str:
        return self.hostname


class SwitchPort(models.Model):
    switch = models.ForeignKey(Switch, on_delete=models.CASCADE, related_name="ports")
    name = models.CharField(max_length=32, validators=[port_name_validator], help_text="e.g. 'xe-0/0/12'")

    class Meta:
        ordering = ["switch", "name"]
        constraints = [models.UniqueConstraint(fields=["switch", "name"], name="switchport_name_unique_per_switch",
                                               violation_error_message="This switch already has a port of that name.")]

    def __str__(self) -> str:
        return f"{self.switch.hostname}/{self.name}" if self.switch_id else self.name


class Cable(models.Model):
    """One server NIC to one switch port; each end is cabled at most once (both ends unique)."""

    interface = models.OneToOneField(NetworkInterface, on_delete=models.CASCADE, related_name="cable",
                                     error_messages={"unique": "This NIC is already cabled; remove its cable first."})
    port = models.OneToOneField(SwitchPort, on_delete=models.CASCADE, related_name="cable",
                                error_messages={"unique": "This switch port is already cabled; remove its cable first."})
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["port"]

    def __str__(self) -> str:
        return f"{self.interface} ↔ {self.port}"

    def clean(self) -> None:
        super().clean()
        if self.interface_id and self.port_id:
            server, switch = self.interface.server, self.port.switch
            if server.facility_id != switch.facility_id:
                raise ValidationError({"port": f"Switch {switch} is in {switch.facility.code} but server {server} is in "
                                               f"{server.facility.code}; a cable cannot cross facilities."})


# ---------------------------------------------------------------------------------------------- commissioning


class CommissioningReport(models.Model):
    """What a server's discovery image saw: CPU, RAM, disks, NICs and their LLDP neighbours."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="commissioning_reports")
    received_at = models.DateTimeField(auto_now_add=True)
    data = models.JSONField()

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"report for {self.server_id} at {self.received_at:%Y-%m-%d %H:%M}"


class FindingKind(models.TextChoices):
    CPU = "cpu", "CPU"
    RAM = "ram", "RAM"
    DISK = "disk", "Disk"
    NIC = "nic", "NIC"
    CABLING = "cabling", "Cabling"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved by a later report"
    WAIVED = "waived", "Waived by staff"


class CommissioningFinding(models.Model):
    """One difference between a report and the records, in words a human can act on.
    A server with an open finding cannot enter `ready`."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="findings")
    report = models.ForeignKey(CommissioningReport, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=10, choices=FindingKind.choices)
    message = models.TextField()
    status = models.CharField(max_length=10, choices=FindingStatus.choices, default=FindingStatus.OPEN, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    close_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["server", "kind", "id"]

    def __str__(self) -> str:
        return self.message

from apps.hardware.power_models import PowerEvent  # noqa: E402, F401 - power events live in their own module
