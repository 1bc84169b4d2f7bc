"""The instructor's console over HTTP: ``GET /api/network`` and ``PUT /api/network``.

Anyone may read the conditions in force on the class link (the page shows
them in a banner); only the instructor may change them, with the key printed
at start (``Authorization: Bearer KEY``, compared in constant time). No key or
a wrong one is 403 and changes nothing; a bad field is 400 with the reason.
"""

from __future__ import annotations

import secrets

import orjson
from aiohttp import web

from lab.network import Network
from lab.transports.common import SETTINGS_KEY, json_error, json_response, refuse_foreign

NETWORK_KEY = web.AppKey("network", Network)


def is_instructor(request: web.Request) -> bool:
    """Whether the request carries the instructor key (never true when no key is set)."""
    key = request.app[SETTINGS_KEY].instructor_key
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(key) and scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode(), key.encode())


async def handle_network(request: web.Request) -> web.Response:
    """``GET /api/network``: the conditions in force, their summary and recent changes."""
    refuse_foreign(request)
    return json_response(orjson.dumps(request.app[NETWORK_KEY].snapshot()))


async def handle_network_change(request: web.Request) -> web.Response:
    """``PUT /api/network``: change the conditions (instructor key needed)."""
    refuse_foreign(request)
    if not is_instructor(request):
        raise json_error(web.HTTPForbidden, "changing the network needs the instructor key "
                         "(Authorization: Bearer KEY, as printed when the lab started)")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise json_error(web.HTTPBadRequest, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise json_error(web.HTTPBadRequest, "the body must be a JSON object")
    network = request.app[NETWORK_KEY]
    try:
        network.change(body)
    except ValueError as exc:
        raise json_error(web.HTTPBadRequest, str(exc)) from None
    return json_response(orjson.dumps(network.snapshot()))


def setup_console(app: web.Application) -> None:
    """Give `app` its network conditions and the two routes that read and change them."""
    app[NETWORK_KEY] = Network()
    app.router.add_get("/api/network", handle_network)
    app.router.add_put("/api/network", handle_network_change)
