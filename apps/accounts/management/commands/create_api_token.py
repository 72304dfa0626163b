"""`manage.py create_api_token`: issue an API token from the command line (printed once)."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts import services
from apps.accounts.models import APIToken, Project
from apps.accounts.selectors import project_by_reference


class Command(BaseCommand):
    help = "Create an API token for a user (optionally scoped to one project, optionally read-only) and print it once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--user", required=True, help="username of the token's owner")
        parser.add_argument("--project", help="project id (UUID) or organization-slug/project-name, for a project-scoped token")
        parser.add_argument("--read-only", action="store_true")
        parser.add_argument("--description", default="")
        parser.add_argument("--revoke", metavar="PREVIEW", help="instead of creating: revoke the user's token(s) starting with PREVIEW")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named '{options['user']}'. List users in the admin or create one first.")
        if options["revoke"]:
            tokens = APIToken.objects.filter(user=user, key_preview=options["revoke"][:6], revoked_at__isnull=True)
            if not tokens:
                raise CommandError(f"{user} has no active token starting with '{options['revoke']}'.")
            for token in tokens:
                services.api_token_revoke(token=token)
            self.stdout.write(f"revoked {len(tokens)} token(s)")
            return
        project = None
        if options["project"]:
            project = self._project(options["project"])
        try:
            token, plaintext = services.api_token_create(user=user, project=project, read_only=options["read_only"],
                                                         description=options["description"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(plaintext)
        self.stderr.write(f"token {token.key_preview}… for {user}"
                          f"{' on project ' + str(project) if project else ''}{' (read-only)' if token.read_only else ''}: "
                          "store it now, it is kept only as a hash and cannot be shown again")

    def _project(self, ref: str) -> Project:
        project = project_by_reference(ref)
        if project is None:
            raise CommandError(f"No project '{ref}'. Use its id or organization-slug/project-name, e.g. acme/production.")
        return project
