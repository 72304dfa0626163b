"""`manage.py quota`: show an organization's or a project's limits and usage, set or clear an override."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts import quotas
from apps.accounts.models import Organization, Project, Quota, QuotaResource
from apps.accounts.selectors import project_by_reference


class Command(BaseCommand):
    help = ("Show the quotas (limit, in use, where the limit comes from) of an organization or a project; "
            "--set RESOURCE=LIMIT sets an override, --clear RESOURCE removes it (the settings' default applies again).")

    def add_arguments(self, parser: Any) -> None:
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--organization", help="organization slug or id")
        scope.add_argument("--project", help="project id or organization-slug/project-name, e.g. acme/production")
        parser.add_argument("--set", action="append", default=[], metavar="RESOURCE=LIMIT",
                            help=f"resources: {', '.join(QuotaResource.values)}")
        parser.add_argument("--clear", action="append", default=[], metavar="RESOURCE")

    def handle(self, *args: Any, **options: Any) -> None:
        subject = {"organization": self._organization(options["organization"])} if options["organization"] else {
            "project": self._project(options["project"])}
        for item in options["set"]:
            resource, _, limit = item.partition("=")
            if resource not in QuotaResource.values or not limit.strip().isdigit():
                raise CommandError(f"'{item}': write RESOURCE=LIMIT with RESOURCE one of {', '.join(QuotaResource.values)} "
                                   "and LIMIT a whole number, e.g. public_ipv4_addresses=32.")
            try:
                quotas.quota_set(resource=resource, limit=int(limit), actor="manage.py quota", **subject)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
        for resource in options["clear"]:
            quota = Quota.objects.filter(resource=resource, **subject).first()
            if quota is None:
                raise CommandError(f"There is no override of '{resource}' here; nothing to clear.")
            quotas.quota_clear(quota=quota, actor="manage.py quota")
        name, target = next(iter(subject.items()))
        overrides = set(Quota.objects.filter(**subject).values_list("resource", flat=True))
        self.stdout.write(f"{name} {target}")
        for row in quotas.quota_overview(**subject):
            source = "override" if row["resource"] in overrides else "default"
            self.stdout.write(f"  {row['resource']:<24} {row['used']:>6} of {row['limit']:<6} ({source})")

    def _organization(self, ref: str) -> Organization:
        organization = Organization.objects.filter(slug=ref).first()
        if organization is None:
            try:
                organization = Organization.objects.filter(pk=ref).first()
            except ValidationError:
                organization = None
        if organization is None:
            raise CommandError(f"No organization '{ref}'. Use its slug (e.g. acme) or id.")
        return organization

    def _project(self, ref: str) -> Project:
        project = project_by_reference(ref)
        if project is None:
            raise CommandError(f"No project '{ref}'. Use its id or organization-slug/project-name, e.g. acme/production.")
        return project
