"""WSGI entry point (gunicorn project.wsgi)."""
import gc
import os

import django
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.urls import ResolverMatch, get_resolver

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

# What is loaded by now (Django, the apps and, loaded here rather than by the first request, the URL tree and its views)
# lives as long as the process: frozen, the cyclic garbage collector leaves it out of its walks. A full collection walked
# ~140,000 such objects, a 92 ms pause every few hundred requests that all of a worker's threads wait out (measured
# in-process on bench/api.py's calls; frozen: 8 ms), which is what a request's 99th percentile is made of.
get_resolver().url_patterns  # noqa: B018 - loads the URL tree now
gc.collect()
gc.freeze()
