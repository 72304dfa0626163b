"""JSON for the API with the real service's timestamps and `exclude=`: `?exclude=ip_addresses,plan` answers those
nested objects as `{"href": …}` only (lists of them as lists of hrefs), on the object and on every item
of a list, which is what clients ask for to keep large lists small. Dotted names reach one level deeper."""
from __future__ import annotations

import datetime as dt
from typing import Any

from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

from project.timestamps import metal_time


class MetalJSONEncoder(JSONEncoder):
    """DRF's encoder, with datetimes as the real service writes them (project/timestamps.py)."""

    def default(self, obj: Any) -> Any:
        if isinstance(obj, dt.datetime):
            return metal_time(obj)
        return super().default(obj)


def _shrink(value: Any) -> Any:
    if isinstance(value, dict) and "href" in value:
        return {"href": value["href"]}
    if isinstance(value, list):
        return [_shrink(item) for item in value]
    return value


def _exclude(obj: Any, paths: list[list[str]]) -> None:
    if isinstance(obj, list):
        for item in obj:
            _exclude(item, paths)
        return
    if not isinstance(obj, dict):
        return
    for path in paths:
        if path[0] not in obj:
            continue
        if len(path) == 1:
            obj[path[0]] = _shrink(obj[path[0]])
        else:
            _exclude(obj[path[0]], [path[1:]])


class MetalJSONRenderer(JSONRenderer):
    encoder_class = MetalJSONEncoder

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        request = (renderer_context or {}).get("request")
        response = (renderer_context or {}).get("response")
        wanted = request.query_params.get("exclude", "") if request is not None else ""
        if wanted and isinstance(data, dict) and (response is None or response.status_code < 400):
            paths = [name.strip().split(".")[:3] for name in wanted.split(",") if name.strip()]
            lists = [key for key, value in data.items() if key != "meta" and isinstance(value, list)]
            targets = [data[key] for key in lists] if "meta" in data and lists else [data]
            for target in targets:
                _exclude(target, paths)
        return super().render(data, accepted_media_type, renderer_context)


class MetalBrowsableAPIRenderer(BrowsableAPIRenderer):
    """The API in a browser, for people trying it by hand. Many views read their body with a serializer of their
    own rather than a `serializer_class` (the real service's request and response shapes differ); DRF's generated
    forms need the latter and raised for them (HTTP 500 on `GET /metal/v1/devices/{id}` with Accept: text/html).
    Such views get the page without the generated forms; the JSON below them is the same."""

    @staticmethod
    def _has_form_serializer(view: Any) -> bool:
        from rest_framework.generics import GenericAPIView  # here: rest_framework.views imports the renderers

        return getattr(view, "serializer_class", None) is not None or type(view).get_serializer_class is not GenericAPIView.get_serializer_class

    def get_rendered_html_form(self, data: Any, view: Any, method: str, request: Any) -> Any:
        return super().get_rendered_html_form(data, view, method, request) if self._has_form_serializer(view) else None

    def get_raw_data_form(self, data: Any, view: Any, method: str, request: Any) -> Any:
        return super().get_raw_data_form(data, view, method, request) if self._has_form_serializer(view) else None
