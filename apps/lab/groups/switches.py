"""Lab group "switches": one emulated Junos switch (NETCONF over SSH on 127.0.0.1) per switch in the
database whose management host is loopback, all in this process. Each switch's row gets the port the
lab bound and its host key fingerprint, so pushes from the worker go over real NETCONF. The lab keeps
each switch's committed configuration and host key under DATA_DIR/lab/switches across restarts."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from apps.audit.services import audit_record
from apps.hardware.models import Switch
from apps.lab.junos import JunosLab

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def start(out: Any) -> JunosLab:
    lab = JunosLab(state_dir=settings.DATA_DIR / "lab" / "switches").start()
    try:
        switches = list(Switch.objects.filter(mgmt_host__in=LOOPBACK_HOSTS, os="junos").order_by("hostname"))
        with transaction.atomic():
            for switch in switches:
                emulated = lab.add_switch(hostname=switch.hostname, username=switch.username, password=switch.password,
                                          model=switch.model or "qfx5120-48y")
                before = (switch.mgmt_host, switch.mgmt_port, switch.host_key_fingerprint)
                after = ("127.0.0.1", emulated.port, emulated.fingerprint)
                if before != after:
                    Switch.objects.filter(pk=switch.pk).update(mgmt_host=after[0], mgmt_port=after[1], host_key_fingerprint=after[2])
                    audit_record(action="lab.switch.bind", target=switch, reason="lab switch started",
                                 changes={"mgmt_host": [before[0], after[0]], "mgmt_port": [before[1], after[1]],
                                          "host_key_fingerprint": [before[2], after[2]]})
    except BaseException:
        lab.stop()
        raise
    out.write(f"lab: {len(switches)} Junos switch(es) on 127.0.0.1 (NETCONF over SSH)")
    return lab


def stop(handle: JunosLab) -> None:
    handle.stop()
