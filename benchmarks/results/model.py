"""The model of results.json: frozen, versioned, validated on construction from JSON.

One :class:`Results` per run: the environment, the report settings, one
:class:`ScenarioResult` per scenario and the wire anatomy. ``to_dict`` gives the
JSON document described in the results-schema note; :meth:`Results.from_dict`
checks every field's presence and type and raises :class:`ResultsError` with the
path of the first bad field. Fields the note does not list are optional (``None``
by default) so that a hand-written fixture following the note loads; the scale
suite's figures (:mod:`benchmarks.scale.figures`) are such optional fields too.

This module does no I/O (reading and writing the files is
:mod:`benchmarks.results.files`) and knows nothing of how the figures are
measured (see :mod:`benchmarks.suite.harness`).
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin, get_type_hints

SCHEMA = "right-now-lab/results"
VERSION = 1
STATUSES = ("ok", "error", "interrupted")
WIRE_FIELDS = (
    "requests", "request_header_bytes", "response_header_bytes", "body_bytes", "framing_bytes",
    "bytes_sent", "bytes_received", "messages", "reconnects", "gaps", "duplicates",
)


class ResultsError(ValueError):
    """A results document that does not match the schema (the message names the field)."""


@dataclass(frozen=True, slots=True)
class Distribution:
    """Summary of a sample in milliseconds; percentiles are ``None`` when ``count`` is 0."""

    count: int
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    mean: float | None = None


@dataclass(frozen=True, slots=True)
class Environment:
    """Where the run happened; ``hostname_hash`` identifies a machine without naming it."""

    python: str
    aiohttp: str
    os: str
    cpu_count: int
    machine: str
    hostname_hash: str


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """Assumptions the report prices things with; all settable on the command line."""

    volatility: float = 0.2
    """Annual σ of the feed's GBM (the run's own value unless overridden)."""
    rate: float = 10.0
    """Feed price changes per second, all symbols together."""
    trade_volume_usd_per_day: float = 1_000_000.0
    """Dollar volume the desk trades per day at the price it sees."""
    usd_per_million_requests: float = 0.40
    """Price of one million HTTP requests (API gateway / load balancer style)."""
    usd_per_gb: float = 0.09
    """Price of one GB (10⁹ bytes) of egress."""


@dataclass(frozen=True, slots=True)
class ServerFigures:
    """The server process as the OS saw it over the window, and its own counters.

    ``stats`` is the delta of ``/api/stats`` for the scenario's transport over the
    window; ``stats_run`` the delta from before the clients connected until after
    they closed (it reconciles with the clients' whole-run ``wire`` totals).
    ``rss_idle_bytes`` is the resident size before any client connected.

    Scale suite only: ``processes`` in the server's tree (CPU and RSS are summed
    over them), ``cpu_us_per_delivery`` (CPU over the window / messages
    delivered in it), ``rss_per_connection_bytes`` ((RSS once every client is
    connected − idle RSS) / clients), ``requests_per_cpu_s`` (polls answered per
    CPU second) and, for the floor, ``fanout_ms``: one tick's ``send()`` loop.
    """

    cpu_s: float
    peak_rss_bytes: int
    rss_start_bytes: int
    stats: dict[str, Any]
    rss_end_bytes: int | None = None
    rss_idle_bytes: int | None = None
    stats_run: dict[str, Any] | None = None
    processes: int | None = None
    cpu_us_per_delivery: float | None = None
    rss_per_connection_bytes: float | None = None
    requests_per_cpu_s: float | None = None
    fanout_ms: Distribution | None = None


@dataclass(frozen=True, slots=True)
class LoadgenFigures:
    """The load generator's own CPU over the window; ``cpu_util`` of the busiest process."""

    processes: int
    cpu_s: float
    cpu_util: float
    saturated: bool


@dataclass(frozen=True, slots=True)
class RelayFigures:
    """Bytes that really crossed the relay over the whole scenario, and its CPU over the window.

    The relay runs inside the runner's own process, so ``cpu_s`` also holds the
    runner's (small) bookkeeping.
    """

    bytes_upstream: int
    bytes_downstream: int
    connections: int
    cuts: int
    cpu_s: float | None = None
    cpu_util: float | None = None


@dataclass(frozen=True, slots=True)
class MachineFigures:
    """The whole machine over the window, from /proc/stat.

    ``busy_cores``: average number of cores busy (any process, and interrupts);
    ``irq_cores``: the part spent in hard and soft interrupts (loopback TCP);
    ``other_cores``: the rest not explained by the server, the load generator and
    the runner+relay, i.e. processes outside the benchmark.
    """

    cpu_count: int
    busy_cores: float
    other_cores: float
    irq_cores: float | None = None


@dataclass(frozen=True, slots=True)
class Wire:
    """Client wire counters summed over every client (``clients.WireStats`` keys)."""

    requests: int
    request_header_bytes: int
    response_header_bytes: int
    body_bytes: int
    framing_bytes: int
    bytes_sent: int
    bytes_received: int
    messages: int
    reconnects: int
    gaps: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """Everything measured for one scenario.

    ``wire`` covers the clients' whole life; ``wire_window`` only the timed window.
    ``published`` counts messages the server published inside the window (the seq
    range seen), ``delivered`` those received inside it over all clients.
    ``elapsed_s`` is the scenario's whole wall-clock cost (start-up to tear-down).

    Scale suite only: ``loss`` (gaps, duplicates, missed, undelivered,
    failed/late/incomplete clients), ``loadgen_utils`` (each swarm process's
    share of one core), ``window_requests``, ``ready_s`` (time to connect every
    client), ``latency_lower_ms`` (the least p95 and p99 could be when some timed
    messages were read together with a later one), ``machine_speed_ms`` (per core,
    the CPU ms of one fixed loop just before the case: :mod:`benchmarks.scale.cpuspeed`)
    and, for the soak, ``rss_series`` (``[seconds into the window, bytes]`` pairs)
    with its least-squares ``rss_growth_bytes_per_min``.
    """

    name: str
    group: str
    params: dict[str, Any]
    status: str
    error: str | None = None
    window_s: float | None = None
    server: ServerFigures | None = None
    loadgen: LoadgenFigures | None = None
    relay: RelayFigures | None = None
    wire: Wire | None = None
    delivered: int | None = None
    published: int | None = None
    latency_ms: Distribution | None = None
    staleness_ms: Distribution | None = None
    recovery_ms: Distribution | None = None
    flags: list[str] = field(default_factory=list)
    transport: str | None = None
    wire_window: Wire | None = None
    sampled: bool = False
    machine: MachineFigures | None = None
    elapsed_s: float | None = None
    loss: dict[str, int] | None = None
    loadgen_utils: list[float] | None = None
    window_requests: int | None = None
    ready_s: float | None = None
    rss_series: list[list[float]] | None = None
    rss_growth_bytes_per_min: float | None = None
    latency_lower_ms: dict[str, float] | None = None
    machine_speed_ms: list[float] | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ResultsError(f"status: {self.status!r} is not one of {', '.join(STATUSES)}")


@dataclass(frozen=True, slots=True)
class Anatomy:
    """The first bytes of one connection each way, base64, as the relay captured them."""

    upstream_b64: str
    downstream_b64: str


@dataclass(frozen=True, slots=True)
class Results:
    """A whole run: what results.json holds.

    ``breaking_points`` (scale suite): per server and push transport, the largest
    N that held (``clients``, or ``None``), ``limit_tested`` and every ``steps``
    entry (``clients``, ``holds``, ``why``, and its tries: ``scenarios`` and their own
    verdicts, ``tries``; runs made before steps were repeated name one ``scenario``).
    """

    created: str
    suite: str
    seed: int
    environment: Environment
    settings: ReportSettings
    scenarios: list[ScenarioResult] = field(default_factory=list)
    anatomy: dict[str, Anatomy] = field(default_factory=dict)
    breaking_points: list[dict[str, Any]] | None = None
    schema: str = SCHEMA
    version: int = VERSION

    def __post_init__(self) -> None:
        if self.schema != SCHEMA:
            raise ResultsError(f"schema: expected {SCHEMA!r}, got {self.schema!r}")
        if self.version != VERSION:
            raise ResultsError(f"version: this code reads version {VERSION}, got {self.version}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, with ``schema`` and ``version`` first."""
        data = dataclasses.asdict(self)
        return {"schema": data.pop("schema"), "version": data.pop("version"), **data}

    @classmethod
    def from_dict(cls, data: Any) -> Results:
        """Build and validate from a decoded JSON document."""
        if isinstance(data, dict) and (
                (data.get("schema"), data.get("version")) != (SCHEMA, VERSION)):
            raise ResultsError(
                f"not a {SCHEMA} version {VERSION} document "
                f"(schema {data.get('schema')!r}, version {data.get('version')!r})"
            )
        return _build(cls, data, "results")

    def with_scenario(self, scenario: ScenarioResult) -> Results:
        """A copy with ``scenario`` appended (or replacing one of the same name)."""
        kept = [s for s in self.scenarios if s.name != scenario.name]
        return dataclasses.replace(self, scenarios=[*kept, scenario])

    def scenario(self, name: str) -> ScenarioResult:
        """The scenario called ``name`` (``KeyError`` if absent)."""
        for s in self.scenarios:
            if s.name == name:
                return s
        raise KeyError(name)


def _build(cls: type, data: Any, where: str) -> Any:
    """Construct dataclass ``cls`` from ``data``, checking every field's type."""
    if not isinstance(data, dict):
        raise ResultsError(f"{where}: expected an object, got {type(data).__name__}")
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ResultsError(f"{where}.{f.name}: missing")
    try:
        return cls(**kwargs)
    except ResultsError as exc:
        raise ResultsError(f"{where}.{exc}") from None


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except ResultsError as exc:
                errors.append(str(exc))
        raise ResultsError(errors[0] if len(errors) == 1 else f"{where}: unexpected {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise ResultsError(f"{where}: expected a list")
        (item,) = get_args(hint)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ResultsError(f"{where}: expected an object")
        _, item = get_args(hint)
        return {k: _convert(item, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool) or not isinstance(value, hint):
        raise ResultsError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value
