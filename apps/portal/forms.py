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
