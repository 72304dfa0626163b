"""Installs: the operating-system catalog, the devices customers order (Equinix Metal states),
each install run (provision, reinstall, deprovision, commissioning) and its timeline of events.

States move only through project.states.transition(); writes go through apps.installs.services.
"""
from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from project.encryption import EncryptedTextField
from project.states import freeze

os_slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9_]*$", "Use lower-case letters, digits and underscores (e.g. 'ubuntu_24_04').")
# A name or a fully qualified name (the real service accepts "web1.example.com"): labels of letters,
# digits and dashes, not starting or ending with a dash, joined by dots.
hostname_validator = RegexValidator(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
                                    "A hostname is labels of letters, digits and dashes (not starting or ending with a dash), "
                                    "joined by dots.")
sha256_validator = RegexValidator(r"^[0-9a-f]{64}$", "A SHA-256 checksum is 64 lower-case hex digits.")


def new_secret() -> str:
    return secrets.token_urlsafe(24)


class OperatingSystem(models.Model):
    """One installable image, the plans it may go on, and the netboot recipe that installs it.

    Kernel, initrd and image URLs may be absolute, or start with '/' to be served by the platform
    itself (resolved against the address the machine reached it on)."""

    slug = models.CharField(max_length=50, unique=True, validators=[os_slug_validator])
    name = models.CharField(max_length=100)
    distro = models.CharField(max_length=50, help_text="e.g. 'ubuntu'")
    version = models.CharField(max_length=30, help_text="e.g. '24.04'")
    image_url = models.CharField(max_length=500, help_text="Raw disk image the installer streams to the first disk.")
    image_sha256 = models.CharField(max_length=64, validators=[sha256_validator])
    image_size = models.BigIntegerField(validators=[MinValueValidator(1)], help_text="Bytes (the installer reads back this many to verify).")
    plans = models.ManyToManyField("hardware.Plan", related_name="operating_systems", help_text="Plans it may be installed on.")
    kernel_url = models.CharField(max_length=500, default="/netboot/assets/vmlinuz", help_text="Installer kernel.")
    initrd_url = models.CharField(max_length=500, default="/netboot/assets/installer.cpio.gz", help_text="Installer initramfs.")
    kernel_args = models.CharField(max_length=500, default="console=ttyS0 quiet", blank=True)
    provisionable = models.BooleanField(default=True, help_text="Off: existing devices keep it, new orders cannot pick it.")

    class Meta:
        ordering = ["slug"]
        verbose_name = "operating system"
        constraints = [models.CheckConstraint(condition=Q(image_size__gte=1), name="os_image_size_positive")]

    def __str__(self) -> str:
        return self.slug


class DeviceState(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROVISIONING = "provisioning", "Provisioning"
    ACTIVE = "active", "Active"
    POWERING_OFF = "powering_off", "Powering off"
    INACTIVE = "inactive", "Inactive"
    POWERING_ON = "powering_on", "Powering on"
    REINSTALLING = "reinstalling", "Reinstalling"
    DEPROVISIONING = "deprovisioning", "Deprovisioning"
    DELETED = "deleted", "Deleted"
    FAILED = "failed", "Failed"
    RESCUE = "rescue", "Rescue"


D = DeviceState
# The operating system whose install is the customer's own iPXE script (the real service's slug).
CUSTOM_IPXE_SLUG = "custom_ipxe"


class Device(models.Model):
    """What a customer ordered. Its server is picked by the provisioning workflow."""

    # The audit log records the userdata's size and SHA-256, never its text (it holds the customer's secrets).
    AUDIT_DIGEST_FIELDS = ("userdata",)
    TRANSITIONS = freeze({
        D.QUEUED: {D.PROVISIONING, D.DEPROVISIONING, D.FAILED},
        D.PROVISIONING: {D.ACTIVE, D.DEPROVISIONING, D.FAILED},
        D.ACTIVE: {D.POWERING_OFF, D.REINSTALLING, D.DEPROVISIONING, D.FAILED, D.RESCUE},
        D.POWERING_OFF: {D.INACTIVE, D.ACTIVE, D.FAILED},
        D.INACTIVE: {D.POWERING_ON, D.REINSTALLING, D.DEPROVISIONING, D.FAILED, D.RESCUE},
        # In the rescue system (booted in memory, the disk untouched) until a reboot from the disk.
        D.RESCUE: {D.ACTIVE, D.REINSTALLING, D.DEPROVISIONING, D.FAILED},
        D.POWERING_ON: {D.ACTIVE, D.INACTIVE, D.FAILED},
        D.REINSTALLING: {D.ACTIVE, D.DEPROVISIONING, D.FAILED},
        D.DEPROVISIONING: {D.DELETED, D.FAILED},
        # A failed device is deleted by its owner, or reinstalled when its server is still held.
        D.FAILED: {D.DEPROVISIONING, D.REINSTALLING},
        D.DELETED: set(),
    })
    # Every move is kept as a StateChange row: billing rates devices from that time line.
    STATE_HISTORY = True
    BUSY = frozenset({D.QUEUED, D.PROVISIONING, D.POWERING_OFF, D.POWERING_ON, D.REINSTALLING, D.DEPROVISIONING})
    TERMINAL = frozenset({D.DELETED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="devices")
    hostname = models.CharField(max_length=253, validators=[hostname_validator])
    description = models.CharField(max_length=200, blank=True)
    plan = models.ForeignKey("hardware.Plan", on_delete=models.PROTECT, related_name="devices")
    # A locked device refuses delete, reinstall and rescue until someone unlocks it (as the real service does).
    locked = models.BooleanField(default=False)
    # Custom iPXE: the customer's script (fetched by the platform, apps.installs.custom_ipxe) boots the
    # custom_ipxe operating system; with always_pxe every boot of the device runs it, not only the install's.
    ipxe_script_url = models.URLField(max_length=500, blank=True, help_text="custom_ipxe: the customer's iPXE script (http or https).")
    always_pxe = models.BooleanField(default=False, help_text="Boot from the network (the iPXE script) on every boot.")
    billing_cycle = models.CharField(max_length=10, choices=[("hourly", "hourly"), ("daily", "daily"), ("monthly", "monthly"),
                                                             ("yearly", "yearly")], default="hourly")
    customdata = models.JSONField(default=dict, blank=True, help_text="The customer's own data, returned as given.")
    metro = models.ForeignKey("facilities.Metro", on_delete=models.PROTECT, null=True, blank=True, related_name="devices")
    facility = models.ForeignKey("facilities.Facility", on_delete=models.PROTECT, null=True, blank=True, related_name="devices",
                                 help_text="Asked-for facility; empty with a metro: any facility of the metro.")
    operating_system = models.ForeignKey(OperatingSystem, on_delete=models.PROTECT, related_name="devices")
    ssh_keys = models.JSONField(default=list, blank=True, help_text="Public keys (text) written to the device at install.")
    userdata = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    public_ipv4_subnet_size = models.PositiveSmallIntegerField(default=31, validators=[MinValueValidator(24), MaxValueValidator(31)])
    server = models.ForeignKey("hardware.Server", on_delete=models.PROTECT, null=True, blank=True, related_name="devices")
    hardware_reservation = models.ForeignKey("HardwareReservation", on_delete=models.PROTECT, null=True, blank=True, related_name="devices",
                                             help_text="The reservation it was deployed on (its server is the reservation's).")
    spot_instance = models.BooleanField(default=False, help_text="An idle server rented at the spot price; reclaimed with notice.")
    spot_price_max = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True,
                                         help_text="Spot: the highest hourly price the customer pays (the bid).")
    termination_time = models.DateTimeField(null=True, blank=True, editable=False,
                                            help_text="Spot: when the platform deprovisions it (set with notice when reclaimed).")
    spot_market_request = models.ForeignKey("SpotMarketRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="devices")
    batch = models.ForeignKey("Batch", on_delete=models.SET_NULL, null=True, blank=True, related_name="devices",
                              help_text="The batch order it came from.")
    state = models.CharField(max_length=20, choices=DeviceState.choices, default=DeviceState.QUEUED, editable=False, db_index=True)
    state_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    failure_reason = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "state"], name="device_project_state")]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=DeviceState.values), name="device_state_known"),
            # One live device per server: the SKIP LOCKED pick is backed by the database.
            models.UniqueConstraint(fields=["server"], condition=~Q(state="deleted"), name="device_one_live_per_server"),
            # One live device per reservation: two orders on one reservation cannot both win.
            models.UniqueConstraint(fields=["hardware_reservation"], condition=~Q(state="deleted"), name="device_one_live_per_reservation"),
            models.CheckConstraint(condition=Q(metro__isnull=False) | Q(facility__isnull=False), name="device_has_location"),
            models.CheckConstraint(condition=Q(spot_instance=False) | Q(spot_price_max__gt=0), name="device_spot_has_a_bid"),
        ]

    def __str__(self) -> str:
        return self.hostname


class HardwareReservation(models.Model):
    """A server set aside for one project for a term at a price (staff make them, customers deploy on them).
    While it is in force its server is never picked for another order, and deleting the device on it
    returns the server to it, not to the pool. It may move to another project of the same organization."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="hardware_reservations")
    server = models.ForeignKey("hardware.Server", on_delete=models.PROTECT, related_name="reservations")
    custom_rate = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)],
                                      help_text="Per month of the term; empty: the price book's reserved_hardware price for the plan.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(help_text="End of the term (the API's termination_time).")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["server", "ends_at"], name="reservation_server_term")]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="reservation_term_positive")]

    def __str__(self) -> str:
        return f"reservation {str(self.pk)[:8]}"


class Batch(models.Model):
    """One batch order: many devices of one description in one request, each with its own outcome. The
    devices made are linked to it; the ones refused are its error messages."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="batches")
    quantity = models.PositiveIntegerField()
    state = models.CharField(max_length=20, help_text="completed (every device ordered), partial, or failed (none).")
    error_messages = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"batch {str(self.pk)[:8]} of {self.quantity}"


class SpotPrice(models.Model):
    """The spot price of a plan in a metro from `at` on (until the next row): the market's history, and the price
    spot devices are billed at. Written when the price changes (apps.installs.services.spot)."""

    metro = models.ForeignKey("facilities.Metro", on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey("hardware.Plan", on_delete=models.PROTECT, related_name="+")
    price = models.DecimalField(max_digits=10, decimal_places=4)
    at = models.DateTimeField()

    class Meta:
        ordering = ["metro", "plan", "at"]
        indexes = [models.Index(fields=["metro", "plan", "at"], name="spotprice_series")]

    def __str__(self) -> str:
        return f"{self.plan_id}@{self.metro_id}: {self.price} from {self.at:%Y-%m-%d %H:%M}"


class SpotMarketRequest(models.Model):
    """Keep between devices_min and devices_max spot devices of one description running at or below a bid."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="spot_market_requests")
    metro = models.ForeignKey("facilities.Metro", on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey("hardware.Plan", on_delete=models.PROTECT, related_name="+")
    operating_system = models.ForeignKey(OperatingSystem, on_delete=models.PROTECT, related_name="+")
    hostname = models.CharField(max_length=63, help_text="With {{index}} for the device's number.")
    devices_min = models.PositiveIntegerField()
    devices_max = models.PositiveIntegerField()
    max_bid_price = models.DecimalField(max_digits=10, decimal_places=4)
    end_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Deleted by the customer, or ended.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(devices_min__lte=models.F("devices_max")) & Q(devices_max__gte=1),
                                              name="spot_request_counts"),
                       models.CheckConstraint(condition=Q(max_bid_price__gt=0), name="spot_request_bid_positive")]

    def __str__(self) -> str:
        return f"spot request {str(self.pk)[:8]}"


class InstallKind(models.TextChoices):
    PROVISION = "provision", "Provision"
    REINSTALL = "reinstall", "Reinstall"
    DEPROVISION = "deprovision", "Deprovision (wipe)"
    COMMISSIONING = "commissioning", "Commissioning"
    RESCUE = "rescue", "Rescue (in-memory system)"
    CUSTOM_IPXE = "custom_ipxe", "Custom iPXE"


class InstallState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Install(models.Model):
    """One run of the workflow on one server. `step` is where it is; `deadline` is when the current
    step (or the wait for the machine) is overdue and the watchdog ends or resumes it."""

    TRANSITIONS = freeze({
        InstallState.QUEUED: {InstallState.RUNNING, InstallState.FAILED},
        InstallState.RUNNING: {InstallState.SUCCEEDED, InstallState.FAILED},
        InstallState.SUCCEEDED: set(),
        InstallState.FAILED: set(),
    })
    OPEN = frozenset({InstallState.QUEUED, InstallState.RUNNING})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=InstallKind.choices)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, null=True, blank=True, related_name="installs")
    server = models.ForeignKey("hardware.Server", on_delete=models.PROTECT, null=True, blank=True, related_name="installs")
    operating_system = models.ForeignKey(OperatingSystem, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    state = models.CharField(max_length=20, choices=InstallState.choices, default=InstallState.QUEUED, editable=False, db_index=True)
    state_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    step = models.CharField(max_length=30, default="start", editable=False)
    step_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    deadline = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    # Each boot phase has its own secret. `secret`: the netboot phase (installer, wipe or discovery),
    # handed out once, to the machine at its reserved address, by the claim call (claimed_at);
    # `first_boot_secret`: the installed system's phone-home, given to the installer to leave on the disk.
    secret = EncryptedTextField(default=new_secret, editable=False)
    first_boot_secret = EncryptedTextField(default=new_secret, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    failure_reason = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Seconds this run waited on its devices (BMC calls, switch commits): the hardware's share of the
    # platform's steps, so that the platform's own share of an install can be told apart from it.
    device_seconds = models.FloatField(default=0.0, editable=False)
    # Admitted and in its first platform steps (until it first waits for its machine): at most
    # INSTALL_MAX_STARTING runs are, so that a burst of orders never buries the next step of runs
    # already under way at the back of the task queue. Queued runs wait here, in the database.
    starting = models.BooleanField(default=False, editable=False, db_index=True)
    admitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Reinstall options (the real service's names): keep the non-root partitions; skip the full wipe.
    preserve_data = models.BooleanField(default=False, editable=False)
    deprovision_fast = models.BooleanField(default=False, editable=False)
    # custom_ipxe: the customer's script as fetched and checked by the run (what the machine is served).
    ipxe_script = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=InstallState.values), name="install_state_known"),
            # At most one open run per server: two workflows never drive one machine.
            models.UniqueConstraint(fields=["server"], condition=Q(state__in=["queued", "running"]), name="install_one_open_per_server"),
        ]
        indexes = [models.Index(fields=["state", "deadline"], name="install_state_deadline")]

    def __str__(self) -> str:
        return f"{self.kind} {str(self.id)[:8]}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN


class EventSource(models.TextChoices):
    PLATFORM = "platform", "Platform"
    MACHINE = "machine", "Machine"


# The real service's provisioning events, in order, with the share of the install each marks done.
EVENT_TYPES: dict[str, tuple[str, int]] = {
    "provisioning.101": ("Provisioning started", 5),
    "provisioning.102": ("Network configured", 10),
    "provisioning.103": ("Configuration written, restarting device", 15),
    "provisioning.104.01": ("Device connected to DHCP system", 20),
    "provisioning.104": ("Connected to magic install system", 30),
    "provisioning.105": ("Server partitions created", 40),
    "provisioning.106": ("Operating system packages installed", 70),
    "provisioning.107": ("Server networking interfaces configured", 80),
    "provisioning.108": ("Cloud-init packages installed and configured", 85),
    "provisioning.109": ("Installation finished, rebooting server", 90),
    "provisioning.110": ("Device phoned home and is ready to go", 100),
}
MACHINE_EVENT_TYPES = frozenset({"provisioning.104", "provisioning.105", "provisioning.106", "provisioning.107",
                                 "provisioning.108", "provisioning.109"})


class InstallEvent(models.Model):
    install = models.ForeignKey(Install, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=40)
    body = models.CharField(max_length=500)
    source = models.CharField(max_length=10, choices=EventSource.choices, default=EventSource.PLATFORM)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["install", "created_at"], name="install_event_timeline")]

    def __str__(self) -> str:
        return f"{self.type} {self.body}"


class DiscoveredMachine(models.Model):
    """A MAC that netbooted without being in the inventory, with what its discovery image reported."""

    mac = models.CharField(max_length=17, unique=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    inventory = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen"]
        verbose_name = "discovered machine"

    def __str__(self) -> str:
        return self.mac


class ProvisioningNetwork(models.Model):
    """A facility's provisioning network (the VLAN servers netboot on). Every NIC of the facility's
    servers gets one address reserved here, which Metalyard's own DHCP configuration hands out; the
    endpoints machines call recognise a machine by that address (apps.installs.provisioning)."""

    facility = models.OneToOneField("facilities.Facility", on_delete=models.CASCADE, related_name="provisioning_network")
    network = models.CharField(max_length=43, help_text="CIDR, e.g. 10.80.0.0/16 (the lab uses a range in 127.0.0.0/8).")
    gateway = models.GenericIPAddressField(null=True, blank=True, help_text="Router handed out by DHCP (optional).")

    class Meta:
        verbose_name = "provisioning network"

    def __str__(self) -> str:
        return f"{self.facility} {self.network}"


class ProvisioningReservation(models.Model):
    """The one address of a NIC on its facility's provisioning network."""

    interface = models.OneToOneField("hardware.NetworkInterface", on_delete=models.CASCADE, related_name="provisioning_reservation")
    network = models.ForeignKey(ProvisioningNetwork, on_delete=models.CASCADE, related_name="reservations")
    address = models.GenericIPAddressField(unique=True)

    class Meta:
        verbose_name = "provisioning reservation"

    def __str__(self) -> str:
        return f"{self.interface} {self.address}"
