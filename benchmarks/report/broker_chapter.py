"""The chapter "Past one machine", from saved results only: what the broker hop costs, and how
many nodes and how much Redis an audience needs.

The main report carries it as a chapter when its run directory holds a
``broker.json`` (:func:`section`; ``python -m benchmarks.broker --out RUN``).
``python -m benchmarks.report.broker_chapter RUN_DIR [--scale RESULTS_JSON]``
writes it alone as ``RUN_DIR/past-one-machine.md``. Both read ``broker.json``
and, for the CPU per delivery of each transport on one engineered process, a
scale suite's ``results.json`` (by default the paired runs kept in
``docs/measurements``). Every figure is labelled:
*measured* (a saved reading), *computed* (bytes from the wire format) or
*extrapolated* (the model below, far beyond anything run here).

The model, per transport, for S subscribers at r messages per second:
deliveries D = S·r per second; node CPU = D × CPU per delivery (measured on
one process) plus, per node, r × the broker's own cost per message (measured:
the two nodes' CPU beyond one process's, per message and node); a node is one
lab process on one core, loaded to :data:`TARGET_UTIL`; egress = D × bytes per
delivery against a :data:`NIC_BYTES_S` link per node, loaded alike; Redis
sequences r messages per second and hands each to every node (one ``XREAD``
reply per node per message, plus each node's heartbeat), against
:data:`REDIS_OPS_S` — an assumption, not a measurement. Memory: each node
holds its share of the connections, at the memory per connection measured in
the same scale runs, in :data:`NODE_MEMORY_BYTES`. Whichever needs most nodes is the limit that comes
first. Loopback hides the network between
nodes and Redis; TCP/IP overhead is left out of the bytes.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import orjson

DEFAULT_SCALE = (Path(__file__).resolve().parents[2] / "docs" / "measurements"
                 / "2026-12-07-textbook-and-engineered" / "paired-5000-results.json")
TARGET_UTIL = 0.7
"""The share of a core (or of a link) a capacity plan fills, leaving room for bursts."""
NIC_BYTES_S = 125_000_000
"""One node's link: 1 Gbit/s (assumed)."""
NODE_MEMORY_BYTES = 2_000_000_000
"""Memory one node (one process) may fill with its connections: 2 GB (assumed)."""
REDIS_OPS_S = 100_000
"""Simple commands one Redis core serves per second (assumed, a common order of magnitude)."""
HEARTBEAT_OPS_S = 4
"""Redis commands per node per second besides the stream: heartbeat, node list, lock, sweep."""
MESSAGE = (b'{"topic":"prices","seq":1042,"t_us":1764160000123456,'
           b'"data":{"symbol":"ACME","price":101.37}}')
"""A typical price message (the contract's example): its length is the payload of a delivery."""
FRAMING = {"websocket": 2, "sse": len(b"id: 1042\ndata: \n\n"), "stream": len(b"\n5c\r\n\r\n"),
           "longpoll": 200}
"""Bytes each transport adds to one delivered message: a WebSocket frame header, SSE's
fields, an NDJSON newline in its chunk, a long poll's response head and body wrapper
(about 200 bytes; its request, inbound, is not counted)."""
AUDIENCES = (100_000, 1_000_000)
RATES = (1.0, 10.0)


def per_transport(scale: dict[str, Any], figure: str) -> dict[str, float]:
    """The median of a server ``figure`` (``cpu_us_per_delivery``, ``rss_per_connection_bytes``)
    of the engineered lab on one process, per transport."""
    found: dict[str, list[float]] = {}
    for scenario in scale.get("scenarios", []):
        params, server = scenario.get("params", {}), scenario.get("server") or {}
        value = server.get(figure)
        if params.get("server") == "lab" and params.get("purpose") != "soak" and value:
            found.setdefault(params["transport"], []).append(float(value))
    return {transport: statistics.median(values) for transport, values in found.items()}


def by_name(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ok scenarios of broker.json by name."""
    return {r["name"]: r for r in results if r.get("status") == "ok"}


def broker_cost(results: dict[str, dict[str, Any]]) -> tuple[int, float] | None:
    """(N, µs of CPU per message per node) the broker adds, at the largest N measured both on
    one process and on two nodes."""
    for clients in sorted({r["params"]["clients"] for r in results.values()
                           if "clients" in r.get("params", {})}, reverse=True):
        one = results.get(f"broker-one-process-{clients}")
        two = results.get(f"broker-two-nodes-{clients}")
        if one and two and two["published"]:
            extra = sum(two["node_cpu_s"]) - sum(one["node_cpu_s"])
            return clients, max(0.0, extra * 1e6 / two["published"] / len(two["node_cpu_s"]))
    return None


def plan(transport: str, cpu_us: float, rss_bytes: float, overhead_us: float, subscribers: int,
         rate: float) -> dict[str, Any]:
    """Nodes and Redis load for one audience (see the module docstring); which limit is first."""
    deliveries = subscribers * rate
    by_memory = max(1, math.ceil(subscribers * rss_bytes / NODE_MEMORY_BYTES))
    cores = deliveries * cpu_us / 1e6
    per_node = max(0.01, TARGET_UTIL - rate * overhead_us / 1e6)  # a node's share left to deliver
    by_cpu = max(1, math.ceil(cores / per_node))
    egress = deliveries * (len(MESSAGE) + FRAMING[transport])
    by_net = max(1, math.ceil(egress / (NIC_BYTES_S * TARGET_UTIL)))
    nodes = max(by_cpu, by_net, by_memory)
    redis_ops = rate * (1 + nodes) + nodes * HEARTBEAT_OPS_S
    needs = (("node CPU", by_cpu), ("network bytes", by_net), ("node memory", by_memory))
    limit = max(needs, key=lambda need: need[1])[0]  # the first of equals
    if redis_ops > REDIS_OPS_S * TARGET_UTIL:
        limit = "Redis msg/s"
    return {"nodes": nodes, "by_cpu": by_cpu, "by_net": by_net, "by_memory": by_memory,
            "egress_mb_s": egress / 1e6, "redis_ops_s": redis_ops, "limit": limit}


def _cell(value: Any) -> str:
    return "—" if value is None else str(value)


def measured_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """One row per measured case."""
    head = ("| case | N | p50 ms | p99 ms | CPU µs/delivery (all; per node) | Redis CPU µs/msg "
            "| gaps | undelivered |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in results.values():
        if "latency_ms" not in r:
            continue
        cpu, lost = r["cpu_us_per_delivery"], r["loss"]
        lines.append(f"| {r['params']['setup']} | {r['params']['clients']:,} | "
                     f"{_cell(r['latency_ms']['p50'])} | {_cell(r['latency_ms']['p99'])} | "
                     f"{_cell(cpu['all'])}; {', '.join(map(_cell, cpu['nodes']))} | "
                     f"{_cell(r['redis_cpu_us_per_message'])} | {lost['gaps']} | "
                     f"{lost['undelivered']} |")
    return lines


def chapter(results: list[dict[str, Any]], scale: dict[str, Any], scale_name: str,
            title: str | None = "# Past one machine", sub: str = "##") -> str:
    """The chapter's Markdown: ``title`` (none: the caller has one), sections at ``sub``."""
    ok = by_name(results)
    costs = per_transport(scale, "cpu_us_per_delivery")
    memory = per_transport(scale, "rss_per_connection_bytes")
    cost = broker_cost(ok)
    overhead = cost[1] if cost else 0.0
    intro = ("Each case below ran on this one machine (loopback), WebSocket subscribers split "
             "evenly over the nodes, 10 price changes per second. *Measured.*")
    out = [*([title, ""] if title else []), f"{sub} Measured: the broker hop", "", intro, "",
           *measured_table(ok), ""]
    failover = ok.get("broker-failover")
    if failover:
        out += [(f"Failover (the feed's node killed by SIGKILL): the next price reached a "
                 f"subscriber of the other node {failover['seconds_to_next_price']} s after "
                 f"the last one, with {failover['gaps']} gaps and {failover['duplicates']} "
                 "duplicates. *Measured.*"), ""]
    if cost:
        out += [(f"What the broker adds to each node: {overhead:,.0f} µs of CPU per message, "
                 f"that is {overhead * 10 / 1000:,.1f} ms per second at 10 messages per second "
                 f"(the two nodes' CPU beyond one process's, at N = {cost[0]:,}). *Measured.* "
                 "At this rate it is mostly fixed work — the heartbeat, the blocked reads, the "
                 "lock — not work per message, and so is Redis's CPU per message above."), ""]
    assumptions = (f"CPU per delivery per transport: the engineered lab on one process, median "
                   f"of `{scale_name}` (*measured* at its N); bytes per delivery *computed* "
                   f"from the wire format; one node = one process on one core at "
                   f"{TARGET_UTIL:.0%}, less the broker's cost above, holding its connections "
                   f"in {NODE_MEMORY_BYTES / 1e9:g} GB (memory per connection *measured* in the "
                   f"same runs); a 1 Gbit/s link per node at {TARGET_UTIL:.0%}; Redis at "
                   f"{REDIS_OPS_S:,} commands/s (*assumed*). Every row is *extrapolated*.")
    head = ("| transport | subscribers | msg/s | nodes | by CPU | by bytes | by memory "
            "| egress MB/s | Redis commands/s | first limit |")
    out += [f"{sub} Extrapolated: nodes and Redis for an audience", "", assumptions, "", head,
            "|---|---|---|---|---|---|---|---|---|---|"]
    limits: dict[str, int] = {}
    for transport, cpu_us in sorted(costs.items()):
        for subscribers in AUDIENCES:
            for rate in RATES:
                p = plan(transport, cpu_us, memory.get(transport, 0.0), overhead, subscribers,
                         rate)
                limits[p["limit"]] = limits.get(p["limit"], 0) + 1
                out.append(f"| {transport} | {subscribers:,} | {rate:g} | {p['nodes']:,} | "
                           f"{p['by_cpu']:,} | {p['by_net']:,} | {p['by_memory']:,} | "
                           f"{p['egress_mb_s']:,.1f} | "
                           f"{p['redis_ops_s']:,.0f} | {p['limit']} |")
    if limits:
        tally = ", ".join(f"{name} in {count} of {sum(limits.values())} rows"
                          for name, count in sorted(limits.items(), key=lambda kv: -kv[1]))
        out += ["", (f"First limit: {tally}. Redis sequences only the feed's rate and hands "
                     "each message once to each node, so its load grows with the nodes, not "
                     "with the subscribers."), ""]
    return "\n".join(out)


def section(run_dir: Path) -> str:
    """The chapter for the main report, from ``run_dir/broker.json`` and the default scale
    results; a line saying how to get it when the run has no broker group."""
    try:
        results = orjson.loads((run_dir / "broker.json").read_bytes())["scenarios"]
        scale = orjson.loads(DEFAULT_SCALE.read_bytes())
    except (OSError, orjson.JSONDecodeError, KeyError):
        return ("*No broker group in this run: `python -m benchmarks.broker --out RUN_DIR` "
                "adds it (it needs `redis-server`), then `python -m benchmarks.report RUN_DIR`.*")
    return chapter(results, scale, DEFAULT_SCALE.name, title=None, sub="###")


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when written, 1 when a file cannot be read."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report.broker_chapter",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--scale", type=Path, default=DEFAULT_SCALE,
                        help="a scale suite's results.json for each transport's CPU per delivery")
    args = parser.parse_args(argv)
    try:
        results = orjson.loads((args.run_dir / "broker.json").read_bytes())["scenarios"]
        scale = orjson.loads(args.scale.read_bytes())
    except (OSError, orjson.JSONDecodeError, KeyError) as exc:
        print(f"error: cannot read the results: {exc}", file=sys.stderr)
        return 1
    text = chapter(results, scale, args.scale.name)
    (args.run_dir / "past-one-machine.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
