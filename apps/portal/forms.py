"""Forms of the customer portal; they validate input, services do the writes."""
from __future__ import annotations

from django import forms


class SSHKeyForm(forms.Form):
    label = forms.CharField(max_length=100)
    key = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
                          help_text="The single line of your id_ed25519.pub or id_rsa.pub.")


class APITokenForm(forms.Form):
    description = forms.CharField(max_length=200, required=False)
    read_only = forms.BooleanField(required=False)


class DeviceOrderForm(forms.Form):
    hostname = forms.CharField(max_length=63)
    plan = forms.ModelChoiceField(queryset=None, to_field_name="slug")
    operating_system = forms.ModelChoiceField(queryset=None, to_field_name="slug")
    metro = forms.ModelChoiceField(queryset=None, to_field_name="code")
    userdata = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        from apps.facilities.models import Metro
        from apps.hardware.models import Plan
        from apps.installs.models import OperatingSystem

        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = Plan.objects.order_by("slug")
        self.fields["operating_system"].queryset = OperatingSystem.objects.filter(provisionable=True).order_by("slug")
        self.fields["metro"].queryset = Metro.objects.order_by("code")
