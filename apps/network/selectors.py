"""Reads of the network app that several faces use (admin, tasks, installs)."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, QuerySet

from apps.network.drivers import SwitchError, driver_for
from apps.network.models import ConfigPush, PortConfig, PortDrift
from apps.network.services import port_intent


@dataclass(frozen=True)
class PortComparison:
    expected: list[str]  # what the switch should run, in the vendor's syntax
    running: list[str]  # what it ran at the last read (push or drift check)
    missing: list[str]
    unexpected: list[str]
    error: str = ""

    @property
    def in_line(self) -> bool:
        return not self.missing and not self.unexpected and not self.error


def port_desired_vs_running(config: PortConfig) -> PortComparison:
    try:
        driver = driver_for(config.switch.os)
        expected = driver.mask_secrets(driver.expected_lines(port_intent(config)))
    except SwitchError as exc:
        return PortComparison([], list(config.running), [], [], error=str(exc))
    running = list(config.running)
    return PortComparison(expected, running, sorted(set(expected) - set(running)), sorted(set(running) - set(expected)))


def pending_port_configs(switch_id: int | None = None) -> QuerySet[PortConfig]:
    qs = PortConfig.objects.filter(desired_version__gt=F("applied_version"))
    return qs.filter(switch_id=switch_id) if switch_id is not None else qs


def open_drifts(switch_id: int | None = None) -> QuerySet[PortDrift]:
    qs = PortDrift.objects.filter(resolved_at__isnull=True).select_related("port", "switch")
    return qs.filter(switch_id=switch_id) if switch_id is not None else qs


def recent_pushes(switch_id: int, limit: int = 20) -> list[ConfigPush]:
    return list(ConfigPush.objects.filter(switch_id=switch_id).order_by("-started_at", "-pk")[:limit])
