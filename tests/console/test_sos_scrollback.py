"""The scrollback the console hub keeps: its periodic flush writes every open console's output in one
transaction, in order, and each device keeps only its last SOS_SCROLLBACK_BYTES."""
from __future__ import annotations

import pytest

from apps.console.services import scrollback_append, scrollback_append_many, scrollback_read
from tests.hardware.factories import FacilityFactory
from tests.installs.factories import DeviceFactory

pytestmark = pytest.mark.django_db


def test_one_flush_appends_each_devices_output_in_order_and_keeps_the_last_bytes(settings, django_assert_max_num_queries) -> None:
    settings.SOS_SCROLLBACK_BYTES = 16
    facility = FacilityFactory()
    first, second, third = (DeviceFactory(facility=facility) for _ in range(3))
    scrollback_append(device_id=first.pk, data=b"boot: ")
    with django_assert_max_num_queries(12):
        scrollback_append_many(chunks={first.pk: b"kernel ok\r\n", second.pk: b"login: ", third.pk: b""})
    scrollback_append_many(chunks={first.pk: b"login: ", second.pk: b"root\r\n"})
    assert scrollback_read(device_id=first.pk) == (b"boot: kernel ok\r\nlogin: ")[-16:]
    assert scrollback_read(device_id=second.pk) == b"login: root\r\n"
    assert scrollback_read(device_id=third.pk) == b""
