"""API token authentication: `X-Auth-Token: <token>` (as the Equinix Metal API) or `Authorization: Token <token>`."""
from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.accounts.services import api_token_authenticate
from apps.audit import context


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        plaintext = request.headers.get("X-Auth-Token", "").strip()
        if not plaintext:
            parts = request.headers.get("Authorization", "").split()
            if len(parts) == 2 and parts[0].lower() in {"token", "bearer"}:
                plaintext = parts[1]
        if not plaintext:
            return None
        token = api_token_authenticate(plaintext=plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, revoked or unknown API token.")
        ctx = context.current()
        if ctx is not None:
            # Later audit records in this request name the token as the actor.
            object.__setattr__(ctx, "actor", token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
