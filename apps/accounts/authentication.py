"""API token authentication: `X-Auth-Token: <token>` (as the Equinix Metal API) or `Authorization: Token <token>`."""
from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.accounts.services import api_token_authenticate
from apps.accounts.throttling import api_failed_token_attempt
from apps.audit import context

STAFF_API_PREFIX = "/api/"


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        plaintext = self._plaintext(request)
        if not plaintext:
            return None
        token = api_token_authenticate(plaintext=plaintext)
        if token is None:
            wait = api_failed_token_attempt(request)
            if wait is not None:
                raise exceptions.Throttled(wait)
            raise exceptions.AuthenticationFailed("Invalid, revoked or unknown API token.")
        return self._accept(request, token)

    def authenticate_known(self, request: Request) -> tuple[Any, Any] | None:
        """`authenticate` for a valid token; None for no token and for a wrong one, which is neither counted
        nor refused here: the lean views (apps/api/lean.py) hand it to the DRF view, which does both once."""
        plaintext = self._plaintext(request)
        token = api_token_authenticate(plaintext=plaintext) if plaintext else None
        return self._accept(request, token) if token is not None else None

    @staticmethod
    def _plaintext(request: Request) -> str:
        plaintext = request.headers.get("X-Auth-Token", "").strip()
        if not plaintext:
            parts = request.headers.get("Authorization", "").split()
            if len(parts) == 2 and parts[0].lower() in {"token", "bearer"}:
                plaintext = parts[1]
        return plaintext

    @staticmethod
    def _accept(request: Request, token: Any) -> tuple[Any, Any]:
        if token.project_id and request.path_info.startswith(STAFF_API_PREFIX):
            # A project-scoped token is the project's, whoever created it: never the staff tree, even for a staff user.
            raise exceptions.PermissionDenied("A project-scoped API token cannot use the staff API (/api/); use a user token.")
        ctx = context.current()
        if ctx is not None:
            # Later audit records in this request name the token as the actor.
            object.__setattr__(ctx, "actor", token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
