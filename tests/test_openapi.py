"""The OpenAPI document: valid OpenAPI 3, served, and the same routes as the app, both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from aiohttp import web
from openapi_spec_validator import validate

from lab.app import ALLOWED_METHODS, OPENAPI, create_app, handle_unrouted
from tests.conftest import QUIET, Lab

ROOT = Path(__file__).resolve().parent.parent
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def document() -> dict:
    """The document, parsed."""
    return yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


def documented() -> set[tuple[str, str]]:
    """(METHOD, path) of every operation the document describes."""
    return {(method.upper(), path) for path, item in document()["paths"].items()
            for method in item if method in HTTP_METHODS}


def routed(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every route the app registers, but the catch-all that answers 404/405;
    HEAD goes with GET (aiohttp adds it to every GET route, as HTTP says a server may)."""
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.handler is not handle_unrouted and route.method != "HEAD"
            and route.resource is not None}


def test_the_document_is_valid_openapi_3() -> None:
    """The YAML parses and passes the OpenAPI 3.1 validator (references resolve too)."""
    spec = document()
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_docs_links_to_the_served_document() -> None:
    """``docs/openapi.yaml`` is the document the server serves, not a copy that drifts."""
    assert (ROOT / "docs" / "openapi.yaml").resolve() == OPENAPI.resolve()


def test_every_route_is_documented_and_every_documented_operation_routed() -> None:
    """The app's routes and the document's operations are the same (method and path)."""
    app = create_app(QUIET)
    assert routed(app) - documented() == set(), "routes missing from the document"
    assert documented() - routed(app) == set(), "documented but not routed"


def test_paths_that_answer_405_are_the_documented_ones() -> None:
    """The catch-all's table of allowed methods names the documented method of each fixed
    path (a path it does not know answers 404 for every method)."""
    operations = documented()
    for path, methods in ALLOWED_METHODS.items():
        for method in methods.split(", "):
            assert (method, path) in operations
    fixed = {path for _, path in operations if "{" not in path}
    assert fixed == set(ALLOWED_METHODS)


def test_every_error_status_has_a_json_reason() -> None:
    """Each documented 4xx/5xx answer is ``application/json`` with the Error schema."""
    spec = document()
    responses = spec["components"]["responses"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if int(status) < 400:
                    continue
                if "$ref" in answer:
                    answer = responses[answer["$ref"].rsplit("/", 1)[1]]
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


async def test_the_server_serves_the_document(both_settings, make_lab) -> None:
    """``GET /api/openapi.yaml`` answers the file as YAML, not cached, counted as ``other``."""
    lab: Lab = await make_lab(both_settings)
    async with lab.session.get(f"{lab.base}/api/openapi.yaml") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] in ("application/yaml", "text/yaml")
        assert response.headers["Cache-Control"] == "no-store"
        assert await response.read() == OPENAPI.read_bytes()
    assert (await lab.stats())["other"]["requests"] >= 1


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_a_method_the_document_does_not_give_answers_405(both_settings, make_lab,
                                                                method: str) -> None:
    """A method not documented for the document's own path is refused with ``Allow: GET``."""
    lab: Lab = await make_lab(both_settings)
    async with lab.session.request(method, f"{lab.base}/api/openapi.yaml") as response:
        assert response.status == 405 and response.headers["Allow"] == "GET"
        assert (await response.json())["error"]
