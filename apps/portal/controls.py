"""The portal's project-level write controls, each declared once with the project permission it needs (the same
permission the API's view of that write requires). A control's template block renders only for a user who holds it
(`{% control "deploy" %}…{% endcontrol %}`), and its view refuses everyone else with 403 — so a read-only member sees
no form or button that writes, and a post made anyway changes nothing. A device's actions come from the action
registry (apps.installs.actions.available) by the same rule."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse

from apps.accounts.models import Project
from apps.accounts.permissions import refusal_message
from apps.accounts.selectors import MANAGE, WRITE, can


@dataclass(frozen=True)
class Control:
    permission: str
    what: str  # what the control does, for the refusal: "Deploying servers"


CONTROLS: dict[str, Control] = {
    "deploy": Control(WRITE, "Deploying servers"),
    "ips": Control(WRITE, "Reserving, assigning and releasing addresses"),
    "project_keys": Control(WRITE, "Adding and removing project SSH keys"),
    "members": Control(MANAGE, "Inviting members, changing their roles and removing them"),
    "project_tokens": Control(MANAGE, "Creating and revoking the project's API tokens"),
}


def control(name: str) -> Control:
    try:
        return CONTROLS[name]
    except KeyError:
        raise KeyError(f"no portal control '{name}'; declare it in apps.portal.controls.CONTROLS") from None


def may(user: Any, project: Project | None, name: str) -> bool:
    """Whether `user` may use control `name` in `project` (free for a project from visible_projects())."""
    return project is not None and can(user, project, control(name).permission)


def refused(request: HttpRequest, project: Project, name: str, tab: str) -> HttpResponse | None:
    """None when the user may use control `name`; otherwise the 403 page saying which role it needs."""
    if may(request.user, project, name):
        return None
    from apps.portal.views.common import render_project

    reason = f"{control(name).what}: {refusal_message(project, control(name).permission)}"
    return render_project(request, "portal/refused.html", project, tab, {"reason": reason}, status=403)
