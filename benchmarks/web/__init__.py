"""The ``web`` measurements: the transports as today's browsers reach them.

``python -m benchmarks.web`` measures each transport straight to the lab, and through a real
nginx (``--proxy-profile tuned``) over HTTPS with HTTP/1.1 and with HTTP/2: header bytes per
request (the first, and the steady state once HPACK's dynamic table is filled), bytes per
delivered update (TLS included), requests per minute, latency and the latency the proxy hop
adds, and loss. Then, through the bare ``default`` profile, which transports work, fail or
degrade, and how (:mod:`benchmarks.web.probes`).

- :mod:`benchmarks.web.cases`: the routes, transports and probes, as data;
- :mod:`benchmarks.web.measure`: one route and transport with N clients;
- :mod:`benchmarks.web.probes`: the default profile's verdicts;
- :mod:`benchmarks.web.output`: ``web.json`` and the tables of ``web.md``;
- :mod:`benchmarks.web.__main__`: the command line, the lab and the proxies.
"""
