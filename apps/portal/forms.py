"""Forms of the customer portal; they validate input and offer choices, services do the writes."""
from __future__ import annotations

from typing import Any

from django import forms

from apps.accounts.models import Role, SSHKey
from apps.facilities.models import Facility, Metro
from apps.hardware.models import Plan
from apps.installs.models import OperatingSystem


class PortalForm(forms.Form):
    """Labels without Django's trailing colon, as every hand-written label of the portal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class SSHKeyForm(PortalForm):
    label = forms.CharField(max_length=100)
    key = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
                          help_text="The single line of your id_ed25519.pub or id_rsa.pub.")


class APITokenForm(PortalForm):
    description = forms.CharField(max_length=200, required=False)
    read_only = forms.BooleanField(required=False, label="Read-only")


SUBNET_SIZES = [(31, "/31 — one address (default)"), (30, "/30 — two usable"), (29, "/29 — six usable"), (28, "/28 — fourteen usable")]


class DeployForm(PortalForm):
    """Deploy a server. The choices follow the catalog: where, which plan (with what is ready there now),
    which operating systems that plan allows; the order itself goes through `device_create`."""

    plan = forms.ChoiceField(help_text="How many are ready right now in each place is shown beside each location.")
    location = forms.ChoiceField(label="Metro or facility")
    operating_system = forms.ChoiceField(label="Operating system")
    hostname = forms.CharField(max_length=63)
    ssh_keys = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, label="SSH keys",
                                         help_text="Checked keys are written to the server. All of them by default: "
                                                   "the project's keys and the personal keys of its members who may change its servers.")
    userdata = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, label="Userdata",
                               help_text="Passed to cloud-init on first boot (e.g. a #cloud-config document).")
    # Marks a form that showed the key checkboxes: without it (a post made by a script) no key listed means the rule's default.
    ssh_keys_shown = forms.BooleanField(required=False, widget=forms.HiddenInput, initial=True)
    public_ipv4_subnet_size = forms.TypedChoiceField(choices=SUBNET_SIZES, coerce=int, initial=31, empty_value=31, required=False,
                                                     label="Public IPv4 block",
                                                     help_text="Private IPv4 and IPv6 are always given.")

    def __init__(self, *args: Any, key_choices: list[SSHKey], available: dict[tuple[str, str], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plans = {p.slug: p for p in Plan.objects.order_by("slug")}
        self.metros = {m.code: m for m in Metro.objects.order_by("code")}
        self.facilities = {f.code: f for f in Facility.objects.select_related("metro").order_by("code")}
        plan_slug = self.data.get("plan") or self.initial.get("plan") or next(iter(self.plans), "")
        self.fields["plan"].choices = [(slug, f"{slug} — {p.name}, {p.ram_gb} GB RAM") for slug, p in self.plans.items()]
        self.fields["location"].choices = self._locations(plan_slug, available)
        os_qs = OperatingSystem.objects.filter(provisionable=True).order_by("name")
        if plan_slug in self.plans:
            os_qs = os_qs.filter(plans__slug=plan_slug)
        self.fields["operating_system"].choices = [(o.slug, o.name) for o in os_qs]
        self.key_rows = {self.key_value(k): k for k in key_choices}
        self.fields["ssh_keys"].choices = [(value, key.label) for value, key in self.key_rows.items()]
        if not self.is_bound:
            self.fields["ssh_keys"].initial = list(self.key_rows)

    def _locations(self, plan_slug: str, available: dict[tuple[str, str], int]) -> list[Any]:
        choices: list[Any] = []
        for code, metro in self.metros.items():
            in_metro = sum(n for (plan, facility), n in available.items() if plan == plan_slug and self.facilities[facility].metro_id == metro.pk)
            group = [(f"metro:{code}", f"{metro.name} — any facility ({in_metro} ready)")]
            group += [(f"facility:{f.code}", f"{f.code} — {f.name} ({available.get((plan_slug, f.code), 0)} ready)")
                      for f in self.facilities.values() if f.metro_id == metro.pk]
            choices.append((metro.name, group))
        return choices

    @staticmethod
    def key_value(key: SSHKey) -> str:
        return f"{'project' if key.project_id else 'user'}:{key.pk}"

    def order(self) -> dict[str, Any]:
        """The cleaned form as `device_create` keyword arguments."""
        data = self.cleaned_data
        kind, code = data["location"].split(":", 1)
        chosen = data["ssh_keys"]
        keys: dict[str, Any] = {}
        if not chosen and not data["ssh_keys_shown"]:
            pass  # nothing said about keys: the rule's default
        elif not chosen:
            keys = {"no_ssh_keys": True}
        elif set(chosen) != set(self.key_rows):  # a subset: exactly those; all of them: the rule's default
            keys = {"project_ssh_keys": [v.split(":", 1)[1] for v in chosen if v.startswith("project:")],
                    "user_ssh_keys": [v.split(":", 1)[1] for v in chosen if v.startswith("user:")]}
        return {"hostname": data["hostname"], "plan": self.plans[data["plan"]],
                "operating_system": OperatingSystem.objects.get(slug=data["operating_system"]),
                "metro": self.metros[code] if kind == "metro" else None,
                "facility": self.facilities[code] if kind == "facility" else None,
                "userdata": data["userdata"], "public_ipv4_subnet_size": data["public_ipv4_subnet_size"], **keys}


class ReservationForm(PortalForm):
    location = forms.ChoiceField(label="Metro or facility")
    quantity = forms.TypedChoiceField(choices=[(1, "1 address (/32)"), (2, "2 addresses (/31)"), (4, "4 addresses (/30)"),
                                               (8, "8 addresses (/29)"), (16, "16 addresses (/28)")], coerce=int, initial=4)
    description = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metros = {m.code: m for m in Metro.objects.order_by("code")}
        self.facilities = {f.code: f for f in Facility.objects.select_related("metro").order_by("code")}
        self.fields["location"].choices = ([(f"metro:{c}", f"metro {c} — {m.name}") for c, m in self.metros.items()]
                                           + [(f"facility:{c}", f"facility {c} — {f.name}") for c, f in self.facilities.items()])

    def place(self) -> dict[str, Any]:
        kind, code = self.cleaned_data["location"].split(":", 1)
        return {"metro": self.metros[code]} if kind == "metro" else {"facility": self.facilities[code]}


class AssignForm(PortalForm):
    device = forms.ChoiceField(label="Server")
    address = forms.CharField(max_length=64, required=False, help_text="Empty: the first free address of the reservation.")


class InviteForm(PortalForm):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.COLLABORATOR)


class RoleForm(PortalForm):
    role = forms.ChoiceField(choices=Role.choices)
