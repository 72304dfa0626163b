"""Finding 6: following the documented key rotation ("new key first, then drop the old one") broke every
older install row — the device API answered 500. `manage.py rotate_keys` re-encrypts every encrypted
column under the first key, so the old key can be dropped; a value no key can read stops it with nothing changed."""
from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from apps.hardware.models import BMC
from apps.installs.models import Install
from project.encryption import DecryptionError
from tests.factories import UserFactory
from tests.hardware.factories import BMCFactory, FacilityFactory
from tests.installs.factories import DeviceFactory, InstallFactory
from tests.security.dbstate import changed_tables, db_fingerprint

OLD, NEW, LOST = (Fernet.generate_key().decode() for _ in range(3))


def raw(table: str, column: str, pk) -> str:  # noqa: ANN001
    with connection.cursor() as cursor:
        # The id as the database stores it (SQLite keeps UUIDs as 32 hex digits).
        db_pk = pk.hex if isinstance(pk, uuid.UUID) and connection.vendor == "sqlite" else pk
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [db_pk])  # noqa: S608 - constant names
        return cursor.fetchone()[0]


def readable_by(key: str, stored: str) -> bool:
    try:
        Fernet(key.encode()).decrypt(stored.removeprefix("fernet:").encode())
    except Exception:  # noqa: BLE001 - any failure means "not this key"
        return False
    return True


@pytest.fixture
def old_secrets(db, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    user = UserFactory()
    device = DeviceFactory(facility=FacilityFactory())
    services.membership_set(user=user, organization=device.project.organization, role=Role.OWNER)
    install = InstallFactory(device=device)
    bmc = BMCFactory(password="ipmi-pw-1")
    return {"user": user, "device": device, "install": install, "secret": install.secret, "bmc": bmc}


def test_rotation_then_dropping_the_old_key_keeps_everything_readable(old_secrets, settings):
    install, bmc = old_secrets["install"], old_secrets["bmc"]
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    call_command("rotate_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115, PTH123
    stored_secret, stored_password = raw("installs_install", "secret", install.pk), raw("hardware_bmc", "password", bmc.pk)
    assert readable_by(NEW, stored_secret) and not readable_by(OLD, stored_secret)
    assert readable_by(NEW, stored_password) and not readable_by(OLD, stored_password)
    assert AuditEvent.objects.filter(action="encryption_keys_rotated").count() == 1

    settings.FIELD_ENCRYPTION_KEYS = [NEW]  # the old key is gone
    assert Install.objects.get(pk=install.pk).secret == old_secrets["secret"]
    assert BMC.objects.get(pk=bmc.pk).password == "ipmi-pw-1"
    _, token = services.api_token_create(user=old_secrets["user"])
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=token)
    assert client.get(f"/metal/v1/devices/{old_secrets['device'].pk}").status_code == 200


def test_without_rotation_dropping_the_old_key_is_what_broke(old_secrets, settings):
    """The attack of the review, to show the test above can fail: no rotate_keys, old key dropped."""
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(DecryptionError):
        Install.objects.get(pk=old_secrets["install"].pk)


def test_a_value_no_key_can_read_stops_the_rotation_with_nothing_changed(old_secrets, settings):
    settings.FIELD_ENCRYPTION_KEYS = [LOST]
    orphan = BMCFactory(password="written-with-a-key-since-lost")
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    stored = {pk: raw("hardware_bmc", "password", pk) for pk in BMC.objects.values_list("pk", flat=True)}
    stored_install = raw("installs_install", "secret", old_secrets["install"].pk)
    with pytest.raises(CommandError, match=f"hardware.BMC {orphan.pk}"):
        call_command("rotate_keys")
    assert {pk: raw("hardware_bmc", "password", pk) for pk in stored} == stored
    assert raw("installs_install", "secret", old_secrets["install"].pk) == stored_install
    assert not AuditEvent.objects.filter(action="encryption_keys_rotated").exists()


def test_rotation_changes_no_plaintext(old_secrets, settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    before = db_fingerprint()  # decrypted values: the same before and after
    call_command("rotate_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115, PTH123
    assert changed_tables(before, db_fingerprint()) == ["audit.auditevent"]
