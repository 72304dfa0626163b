"""Desired switch port configuration, the pushes that apply it (with their diffs) and the drift found
between what a switch runs and what Metalyard wants. Written only through apps.network.services."""
from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

from apps.hardware.models import Switch as _Switch
from apps.network.drivers import PortMode
from project.encryption import EncryptedTextField
from project.states import freeze

# The one PortMode is the driver interface's (apps.network.drivers); these are its labels here.
PORT_MODE_CHOICES = [(PortMode.PROVISIONED.value, "Provisioned (routed, the server's gateways)"),
                     (PortMode.ISOLATED.value, "Isolated (disabled, no addresses)"),
                     (PortMode.LAYER2.value, "Layer 2 (a trunk of the customer's VLANs)")]
PORT_MODES = [mode.value for mode in PortMode]


class PortConfig(models.Model):
    """What one managed switch port should run. A port is managed once Metalyard has set its desired state.

    `desired_version` grows with every change; `applied_version` is the version a push last made
    the switch run. They differ while a change is pending."""

    port = models.OneToOneField("hardware.SwitchPort", on_delete=models.CASCADE, related_name="config")
    # Denormalised from port.switch: "the pending ports of one switch" is the push's hot query.
    switch = models.ForeignKey("hardware.Switch", on_delete=models.CASCADE, related_name="port_configs", editable=False)
    server = models.ForeignKey("hardware.Server", on_delete=models.SET_NULL, null=True, blank=True, related_name="port_configs",
                               help_text="The server cabled to the port when the desired state was set.")
    mode = models.CharField(max_length=20, choices=PORT_MODE_CHOICES)
    description = models.CharField(max_length=200, blank=True)
    mtu = models.PositiveIntegerField(null=True, blank=True)
    addresses = models.JSONField(default=list, blank=True, help_text="Switch-side interface addresses with the link's prefix length.")
    vlans = models.JSONField(default=list, blank=True, help_text="Layer 2: the VLAN ids the trunk carries.")
    native_vlan = models.PositiveIntegerField(null=True, blank=True, help_text="Layer 2: the VLAN carried untagged.")
    lag = models.CharField(max_length=20, blank=True, help_text="Layer 2: the LACP bundle (aggregated Ethernet, e.g. ae10) the port is a member "
                                                                 "of; the bundle's first member also carries its VLANs.")
    bgp = models.JSONField(default=dict, blank=True, help_text="The customer BGP sessions on this port (no secrets: the MD5 password stays "
                                                               "encrypted on the project's BGP configuration).")
    desired_version = models.PositiveIntegerField(default=1)
    applied_version = models.PositiveIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.CharField(max_length=200, blank=True)
    change_reason = models.CharField(max_length=500, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    running = models.JSONField(default=list, blank=True, help_text="The port's configuration as last read from the switch.")
    running_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["switch", "port__name"]
        verbose_name = "port configuration"
        indexes = [models.Index(fields=["switch", "desired_version", "applied_version"], name="portconfig_switch_versions")]
        constraints = [
            models.CheckConstraint(condition=Q(applied_version__lte=F("desired_version")), name="portconfig_applied_not_ahead"),
            models.CheckConstraint(condition=Q(mode__in=PORT_MODES), name="portconfig_mode_known"),
        ]

    def __str__(self) -> str:
        return f"{self.port} ({self.mode})"

    @property
    def pending(self) -> bool:
        return self.applied_version < self.desired_version


class SwitchSync(models.Model):
    """Per-switch bookkeeping of the network app: the push lease (one push at a time per switch), the
    retry back-off, and the last drift check."""

    switch = models.OneToOneField("hardware.Switch", on_delete=models.CASCADE, primary_key=True, related_name="sync")
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # Set when a push task is queued and cleared when it starts: a change made meanwhile needs no task
    # of its own (the queued one will see it), so 40 changes do not queue 40 tasks.
    push_queued_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="The reconcile sweep retries no sooner than this.")
    last_push_at = models.DateTimeField(null=True, blank=True)
    last_drift_check_at = models.DateTimeField(null=True, blank=True)
    last_drift_error = models.TextField(blank=True)
    vlans = models.JSONField(default=list, blank=True, help_text="The VLAN ids the last successful push left defined on the switch.")

    class Meta:
        verbose_name = "switch sync state"

    def __str__(self) -> str:
        return f"sync of switch {self.switch_id}"


class PushOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    COMMITTED = "committed", "Committed"
    UNCHANGED = "unchanged", "No change (nothing committed)"
    FAILED = "failed", "Failed"


class ConfigPush(models.Model):
    """One configuration transaction on one switch: who asked, why, which ports, the diff, how it went."""

    switch = models.ForeignKey("hardware.Switch", on_delete=models.CASCADE, related_name="config_pushes")
    outcome = models.CharField(max_length=20, choices=PushOutcome.choices, default=PushOutcome.RUNNING, db_index=True)
    requested_by = models.CharField(max_length=500, blank=True, help_text="Who made the changes this push applies.")
    reason = models.TextField(blank=True)
    ports = models.JSONField(default=list, help_text="Names of the ports the push configured.")
    config = models.TextField(blank=True, help_text="The configuration loaded (vendor syntax).")
    diff = models.TextField(blank=True, help_text="The switch's own diff of candidate against running, before the commit.")
    committed = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    error_step = models.CharField(max_length=40, blank=True)
    retryable = models.BooleanField(default=False)
    steps = models.JSONField(default=list, blank=True, help_text="[step, seconds] in order.")
    attempt = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = "config push"
        indexes = [models.Index(fields=["switch", "-started_at"], name="configpush_switch_recent")]

    def __str__(self) -> str:
        return f"push #{self.pk} to {self.switch} ({self.outcome})"


class PortDrift(models.Model):
    """A managed port whose running configuration differs from its desired state (changed by hand).

    Open while `resolved_at` is empty; at most one open record per port."""

    port = models.ForeignKey("hardware.SwitchPort", on_delete=models.CASCADE, related_name="drifts")
    switch = models.ForeignKey("hardware.Switch", on_delete=models.CASCADE, related_name="drifts", editable=False)
    detected_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    expected = models.JSONField(default=list)
    running = models.JSONField(default=list)
    summary = models.TextField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=200, blank=True)
    resolved_by_push = models.ForeignKey(ConfigPush, on_delete=models.SET_NULL, null=True, blank=True, related_name="resolved_drifts")

    class Meta:
        ordering = ["-detected_at", "-pk"]
        verbose_name = "port drift"
        constraints = [models.UniqueConstraint(fields=["port"], condition=Q(resolved_at__isnull=True), name="portdrift_one_open_per_port")]

    def __str__(self) -> str:
        return f"drift on {self.port}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class ManagedSwitch(_Switch):
    """The network face of a hardware switch in the admin: its pushes, diffs, drift and re-apply."""

    class Meta:
        proxy = True
        verbose_name = "switch configuration"
        verbose_name_plural = "switch configurations"


# ---------------------------------------------------------------------------------------------- customer BGP


class BgpDeployment(models.TextChoices):
    LOCAL = "local", "Local (a private ASN, routes stay in the facility)"
    GLOBAL = "global", "Global (the customer's own ASN and address space)"


class BgpConfigStatus(models.TextChoices):
    REQUESTED = "requested", "Requested (global: waits for staff review)"
    ENABLED = "enabled", "Enabled"
    DISABLED = "disabled", "Disabled"


class AddressFamily(models.TextChoices):
    IPV4 = "ipv4", "IPv4"
    IPV6 = "ipv6", "IPv6"


class BgpConfig(models.Model):
    """A project's BGP: its ASN, local or global, and the optional MD5 password of every session (encrypted at rest)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.OneToOneField("accounts.Project", on_delete=models.PROTECT, related_name="bgp_config")
    deployment_type = models.CharField(max_length=10, choices=BgpDeployment.choices)
    asn = models.BigIntegerField(help_text="The customer's ASN (local BGP: a private one).")
    md5 = EncryptedTextField(blank=True, help_text="The sessions' TCP MD5 password, encrypted; empty: none.")
    # Grows with every password change: the ports' desired state names it (never the password itself), so a
    # new password makes the ports pending without the secret ever being stored in clear.
    md5_serial = models.PositiveIntegerField(default=0, editable=False)
    max_prefix = models.PositiveIntegerField(default=10, help_text="The most prefixes a session accepts.")
    route_object = models.CharField(max_length=200, blank=True)
    use_case = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=BgpConfigStatus.choices, default=BgpConfigStatus.ENABLED)
    created_at = models.DateTimeField(auto_now_add=True)
    requested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "project BGP configuration"
        constraints = [models.CheckConstraint(condition=Q(asn__gte=1, asn__lte=4294967294), name="bgpconfig_asn_range")]

    def __str__(self) -> str:
        return f"BGP of {self.project_id} (AS{self.asn}, {self.deployment_type})"


class BgpSession(models.Model):
    """One address family's BGP session between a customer's device and the switch port its server is cabled to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="bgp_sessions")
    # The installs app's Device (no foreign key: installs builds on network, not the other way round).
    device_id = models.UUIDField(db_index=True)
    server = models.ForeignKey("hardware.Server", on_delete=models.PROTECT, related_name="bgp_sessions")
    address_family = models.CharField(max_length=4, choices=AddressFamily.choices)
    default_route = models.BooleanField(default=False, help_text="The switch also sends the customer a default route.")
    # Observed, not decided: what the switch last said of the session (the real service's values).
    status = models.CharField(max_length=8, choices=[("unknown", "Unknown"), ("up", "Up"), ("down", "Down")], default="unknown")
    status_read_at = models.DateTimeField(null=True, blank=True)
    accepted_prefixes = models.PositiveIntegerField(default=0, help_text="How many of the customer's prefixes the switch accepted.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = "BGP session"
        constraints = [models.UniqueConstraint(fields=["device_id", "address_family"], name="bgpsession_one_per_family")]

    def __str__(self) -> str:
        return f"BGP {self.address_family} of device {self.device_id}"


# ---------------------------------------------------------------------------------------------- Layer 2


class VirtualNetwork(models.Model):
    """A project's VLAN in one metro (the real service's "virtual network"; `vxlan` is its VLAN id there)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="virtual_networks")
    metro = models.ForeignKey("facilities.Metro", on_delete=models.PROTECT, related_name="virtual_networks")
    vxlan = models.PositiveIntegerField(help_text="The VLAN id, unique in the metro.")
    description = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["metro", "vxlan"]
        verbose_name = "virtual network (VLAN)"
        constraints = [models.UniqueConstraint(fields=["metro", "vxlan"], name="vlan_unique_per_metro",
                                               violation_error_message="This VLAN id is already used in the metro."),
                       models.CheckConstraint(condition=Q(vxlan__gte=2, vxlan__lte=3999), name="vlan_id_range")]

    def __str__(self) -> str:
        return f"VLAN {self.vxlan} ({self.metro_id})"


class PortLayer(models.Model):
    """The customer's choice for one server NIC: routed (Layer 3, the default) or a Layer 2 trunk of VLANs."""

    interface = models.OneToOneField("hardware.NetworkInterface", on_delete=models.CASCADE, related_name="port_layer")
    # The device (installs app) that made the choice: it ends with that device, never reaching the server's next tenant.
    device_id = models.UUIDField(null=True, blank=True, db_index=True)
    layer2 = models.BooleanField(default=False)
    bonded = models.BooleanField(default=True, help_text="Member of the device's bond0 as the real service shows it.")
    virtual_networks = models.ManyToManyField(VirtualNetwork, blank=True, related_name="port_layers")
    native_vlan = models.ForeignKey(VirtualNetwork, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "port layer"

    def __str__(self) -> str:
        return f"{self.interface_id}: {'layer 2' if self.layer2 else 'layer 3'}"


class VlanBatchState(models.TextChoices):
    QUEUED = "queued", "Queued"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class VlanAssignmentBatch(models.Model):
    """Several VLAN assignments and unassignments of one port, applied together: one change of the port's desired
    state and one push (the real service's "port VLAN assignment batch"). Failures say why in `error_messages`."""

    TRANSITIONS = freeze({
        VlanBatchState.QUEUED: {VlanBatchState.IN_PROGRESS, VlanBatchState.FAILED},
        VlanBatchState.IN_PROGRESS: {VlanBatchState.COMPLETED, VlanBatchState.FAILED},
        VlanBatchState.COMPLETED: set(),
        VlanBatchState.FAILED: set(),
    })

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="vlan_batches")
    device_id = models.UUIDField(db_index=True)
    # The port the batch was made on: a NIC, or bond0 (named by the first NIC, with `bond`).
    interface = models.ForeignKey("hardware.NetworkInterface", on_delete=models.CASCADE, related_name="vlan_batches")
    bond = models.BooleanField(default=False)
    state = models.CharField(max_length=12, choices=VlanBatchState.choices, default=VlanBatchState.QUEUED)
    assignments = models.JSONField(default=list, help_text='[{"id", "vlan" (VLAN id), "virtual_network" (uuid), "state", "native"}]')
    error_messages = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = "VLAN assignment batch"
        verbose_name_plural = "VLAN assignment batches"

    def __str__(self) -> str:
        return f"VLAN batch {self.pk} ({self.state})"
