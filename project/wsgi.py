"""WSGI entry point (gunicorn project.wsgi)."""
import os

import django
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.urls import ResolverMatch

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")


class Handler(WSGIHandler):
    """Django's WSGI handler, resolving an API path once: apps.api.middleware.APIPathMiddleware resolves it first
    (to answer an unknown route with JSON) and leaves the match on the request; resolving the URL tree again for
    the view cost ~4% of a worker's CPU on the customer API's hottest reads (bench/api.py)."""

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        resolved = getattr(request, "resolved_api_path", None)
        if resolved is not None and resolved[0] == request.path_info and getattr(request, "urlconf", None) is None:
            request.resolver_match = resolved[1]
            return resolved[1]
        return super().resolve_request(request)


django.setup(set_prefix=False)  # what django.core.wsgi.get_wsgi_application does before making its handler
application = Handler()
