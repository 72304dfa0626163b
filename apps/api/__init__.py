"""The API's plumbing, shared by every app's `api/` package: the error shape (`exceptions`), the
Equinix Metal pagination (`pagination`) and the URL tree that mounts every app's `api/urls.py`
(`urls`). It imports no domain app: domain apps import it, never the other way round. Who may do
what (`apps.accounts.permissions`) and token authentication (`apps.accounts.authentication`) belong
to accounts, which owns users, roles and tokens."""
