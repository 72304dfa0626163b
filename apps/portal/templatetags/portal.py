"""The portal's visual language for states: one tone per kind of state, the same for devices, servers, installs
and addresses wherever they are shown (portal and staff overview), always with the state's name in words so
colour is never the only signal."""
from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from apps.accounts.models import ROLE_RANK
from apps.accounts.selectors import RANK_ROLE, visible_projects

register = template.Library()

# Which tone each state name takes. A state name means the same thing on every machine that has it.
STATE_TONE: dict[str, str] = {
    **dict.fromkeys(("active", "ready", "succeeded", "accepted", "applied", "confirmed", "on"), "ok"),
    **dict.fromkeys(("queued", "provisioning", "powering_off", "powering_on", "reinstalling", "deprovisioning",
                     "commissioning", "allocated", "cleaning", "running", "pending", "pushing"), "busy"),
    **dict.fromkeys(("inactive", "new", "deleted", "released", "off", "unknown"), "off"),
    **dict.fromkeys(("maintenance", "drift", "locked"), "warn"),
    **dict.fromkeys(("failed", "error", "rolled_back"), "bad"),
}
BUSY_TONES = frozenset({"busy"})


def state_tone(state: str) -> str:
    return STATE_TONE.get(str(state), "off")


@register.simple_tag
def state_badge(state: Any, label: str = "") -> str:
    """`<span class="badge tone-ok">active</span>`: the one way a state is shown."""
    name = str(state or "unknown")
    return format_html('<span class="badge tone-{}" data-state="{}">{}</span>', state_tone(name), name,
                       label or name.replace("_", " "))


@register.filter
def above_rank(role: str, rank: int) -> bool:
    """Whether `role` ranks above `rank` (a member the viewer may not change or remove)."""
    return ROLE_RANK.get(str(role), 0) > int(rank or 0)


@register.filter
def tone(state: Any) -> str:
    return state_tone(str(state))


@register.inclusion_tag("portal/_switcher.html", takes_context=True)
def project_switcher(context: dict[str, Any], current: Any = None) -> dict[str, Any]:
    """The organization and project switcher: the user's projects grouped by organization (one query)."""
    request = context["request"]
    groups: dict[str, list[tuple[Any, str]]] = {}
    for project in visible_projects(request.user).order_by("organization__name", "name"):
        groups.setdefault(project.organization.name, []).append((project, RANK_ROLE[project.role_rank]))
    return {"groups": groups, "current": current}


class ControlNode(template.Node):
    def __init__(self, name: template.base.FilterExpression, nodelist: template.NodeList) -> None:
        self.name, self.nodelist = name, nodelist

    def render(self, context: template.Context) -> str:
        from apps.portal.controls import may

        user = context["request"].user
        return self.nodelist.render(context) if may(user, context.get("project"), self.name.resolve(context)) else ""


@register.tag("control")
def control_block(parser: template.base.Parser, token: template.base.Token) -> ControlNode:
    """`{% control "deploy" %}…{% endcontrol %}`: the block renders only for a user who may use the control
    (apps.portal.controls), so a role that cannot act gets no write control at all."""
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError(f"{bits[0]} takes one argument: the control's name")
    nodelist = parser.parse(("endcontrol",))
    parser.delete_first_token()
    return ControlNode(parser.compile_filter(bits[1]), nodelist)
