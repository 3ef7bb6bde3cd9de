"""Fuzzing the public REST surface through Envoy, schemathesis-style: requests generated from the
contracts themselves (every route of every `google.api.http` binding, bodies and query strings
built from the request message's fields — well-typed, ill-typed and junk), and KPI formulas
generated from the catalog's object models (valid, mutated and broken) sent to ValidateFormula and,
as custom KPIs, to Calculate.

Whatever arrives: no 5xx, no crash (the stack stays healthy), and every error names what was
wrong — Envoy's own refusals (malformed JSON, a value of the wrong type) say so in their text, and
a status from the services has a message, and for INVALID_ARGUMENT the offending field named in
its BadRequest details.

Over ten thousand requests in all, on a few keep-alive connections, in well under a minute and a
half. Server-streaming routes (SSE) are left out: a valid request holds the connection open.
Routes that still answer UNIMPLEMENTED everywhere (501, features of later issues) are found by a
probe and reported, not fuzzed.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import importlib
import json
import pkgutil
import random
import re
import string
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import analytics
import pytest
from google.protobuf import descriptor, descriptor_pool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_engine import descriptor as api_descriptor
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import FieldType, ObjectModel
from tests.e2e.test_stack import request as one_request
from tests.fixtures.auth import TokenMaker
from tests.fixtures.stack import ROOT, Stack

pytestmark = pytest.mark.stack

FUZZ_CLIENT = "fuzz-co"
REQUESTS_PER_EXAMPLE = 10
ROUTE_EXAMPLES = 900
FORMULA_EXAMPLES = 400
FORMULAS_PER_EXAMPLE = 3
# Requests in flight at once (the stack's components are separate processes).
SENDERS = 4
# Generating demo data loads up to millions of rows per request: a load test, not a fuzz target.
NOT_FUZZED = {"/v1/demo/generate"}

CATALOG = load_catalog_files()
MODELS = {model.code: model for model in CATALOG.object_models}
KPI_CODES = [kpi.code for kpi in CATALOG.kpis]


# -- the routes, from the contracts -------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    verb: str
    template: str
    body: str
    input: descriptor.Descriptor

    @property
    def path_fields(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAMETER.findall(self.template))

    def filled(self, values: dict[str, str]) -> str:
        """The template with each `{field}` replaced by its URL-quoted value."""
        return _PATH_PARAMETER_SPAN.sub(
            lambda match: urllib.parse.quote(values[match[1]] or "x", safe=""), self.template
        )


_PATH_PARAMETER = re.compile(r"\{([^}=]+)(?:=[^}]*)?\}")
_PATH_PARAMETER_SPAN = _PATH_PARAMETER


def _import_contracts() -> None:
    for module in pkgutil.walk_packages(analytics.__path__, "analytics."):
        if module.name.endswith("_pb2"):
            importlib.import_module(module.name)


def _routes() -> list[Route]:
    _import_contracts()
    pool = descriptor_pool.Default()
    routes = []
    for service in api_descriptor.load(ROOT / "gen" / "descriptor.binpb"):
        if not service.public:
            continue
        for method in service.methods:
            if method.streaming:
                continue
            found = pool.FindMethodByName(f"{service.full_name}.{method.name}")
            for binding in method.http:
                if binding.path not in NOT_FUZZED:
                    routes.append(
                        Route(binding.verb.upper(), binding.path, binding.body, found.input_type)
                    )
    return routes


ROUTES = _routes()


# -- JSON values from field descriptors ------------------------------------------------------------
#
# Hypothesis picks the route, the kind of body and a seed (shrinkable like any drawn value); the
# values themselves are drawn from a `random.Random` with that seed, which is ~100x cheaper than
# nested strategies and keeps ten thousand requests inside the time budget.

F = descriptor.FieldDescriptor
_CODES = [*KPI_CODES, *MODELS, "NOPE", "", FUZZ_CLIENT, "acme"]
_ODD_TEXT = ["", " ", "\x00", "é", "🙂", "' OR 1=1 --", "%", "../..", "\n", "a" * 300, "NaN"]
_MOMENTS = [
    "2026-03-01T00:00:00Z",
    "2026-03-02T00:00:00Z",
    "2026-03-01T00:00:00+05:30",
    "1900-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "yesterday",
    "",
    "2026-13-40T00:00:00Z",
]


class Values:
    """Values for the fields of a request message: well-typed, edge-case and ill-typed."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd

    def text(self) -> str:
        rnd = self.rnd
        if rnd.random() < 0.5:
            return rnd.choice(_ODD_TEXT)
        alphabet = string.printable + "äßЖ中\u2028"
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 20)))

    def scalar(self) -> Any:
        rnd = self.rnd
        return rnd.choice(
            [
                None,
                rnd.random() < 0.5,
                rnd.randint(-(2**70), 2**70),
                rnd.uniform(-1e12, 1e12),
                self.text(),
                [],
                {},
            ]
        )

    def well_typed(self, item: F, depth: int) -> Any:
        rnd = self.rnd
        kind = item.type
        if kind == F.TYPE_MESSAGE:
            full_name = item.message_type.full_name
            if full_name == "google.protobuf.Timestamp":
                return rnd.choice(_MOMENTS)
            if full_name == "google.protobuf.Duration":
                return rnd.choice(["1s", "0.5s", "-3s", "1000000000000s", "x"])
            if full_name in ("google.protobuf.Struct", "google.protobuf.Value"):
                return {rnd.choice(_STRUCT_KEYS): self.scalar() for _ in range(rnd.randint(0, 6))}
            if item.message_type.GetOptions().map_entry:
                return {self.text(): self.scalar() for _ in range(rnd.randint(0, 3))}
            return {} if depth >= 3 else self.message(item.message_type, depth + 1)
        if kind == F.TYPE_ENUM:
            names = [value.name for value in item.enum_type.values]
            return rnd.choice([rnd.choice(names), rnd.choice(names), rnd.randint(-3, 50)])
        if kind == F.TYPE_BOOL:
            return rnd.random() < 0.5
        if kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            return rnd.choice([0.0, -1.0, 0.5, 1e308, rnd.uniform(-1e6, 1e6)])
        if kind == F.TYPE_STRING:
            if item.name.endswith(("code", "codes", "client_id")) and rnd.random() < 0.7:
                return rnd.choice(_CODES)
            return self.text()
        if kind == F.TYPE_BYTES:
            return rnd.randbytes(rnd.randint(0, 12)).hex()
        return rnd.choice([0, 1, -1, 7, 10_000, 2**31, 2**63, -(2**64), "12", "x"])

    def value(self, item: F, depth: int) -> Any:
        rnd = self.rnd
        if rnd.random() < 0.15:
            return self.scalar()
        if item.is_repeated and not (
            item.type == F.TYPE_MESSAGE and item.message_type.GetOptions().map_entry
        ):
            return [self.well_typed(item, depth) for _ in range(rnd.randint(0, 4))]
        return self.well_typed(item, depth)

    def message(self, message: descriptor.Descriptor, depth: int = 0) -> dict[str, Any]:
        chosen = [f for f in message.fields if self.rnd.random() < 0.6]
        found = {f.json_name: self.value(f, depth) for f in chosen}
        if self.rnd.random() < 0.05:
            found[self.text()] = self.scalar()  # a field the contract does not have
        return found


_STRUCT_KEYS: list[str] = sorted(
    {f.name for model in MODELS.values() for f in model.fields} | {"x", ""}
)


# -- formulas from the catalog ---------------------------------------------------------------------


def _aggregate(rnd: random.Random) -> str:
    model = rnd.choice(sorted(MODELS))
    fields = [f.name for f in MODELS[model].fields]
    numeric = [f.name for f in MODELS[model].fields if f.type.is_numeric] or fields
    function = rnd.choice(["count", "sum", "avg", "min", "max", "count_distinct", "percentile"])
    if function == "count" and rnd.random() < 0.5:
        target = model
    else:
        target = f"{model}.{rnd.choice(numeric if function != 'count_distinct' else fields)}"
    if function == "percentile":
        target += rnd.choice([", 0.9", ", 2", ""])
    condition = ""
    if rnd.random() < 0.5:
        condition = f" where {_condition(rnd, MODELS[model])}"
    return f"{function}({target}{condition})"


def _condition(rnd: random.Random, model: ObjectModel) -> str:
    """Mostly a condition that fits the field's type; sometimes one that does not."""
    spec = rnd.choice(model.fields)
    if rnd.random() < 0.2:
        operator = rnd.choice(["=", "!=", "<", ">=", " in ", " between ", " not in "])
        junk = rnd.choice(["'open'", "3", "('a', 'b')", "1 and 9", "true", "x", ""])
        return f"{spec.name}{operator}{junk}"
    if rnd.random() < 0.2:
        return f"{spec.name} is {rnd.choice(['', 'not '])}null"
    if spec.allowed_values:
        chosen = ", ".join(f"'{value}'" for value in rnd.sample(spec.allowed_values, 1))
        return f"{spec.name} {rnd.choice(['in', 'not in'])} ({chosen})"
    literal = {
        FieldType.STRING: "'x'",
        FieldType.INTEGER: "3",
        FieldType.DECIMAL: "2.5",
        FieldType.BOOLEAN: "true",
        FieldType.TIMESTAMP: "'2026-03-01T00:00:00Z'",
        FieldType.DATE: "'2026-03-01'",
    }[spec.type]
    operator = "=" if spec.type is FieldType.BOOLEAN else rnd.choice(["=", "!=", "<", ">="])
    return f"{spec.name} {operator} {literal}"


def formula_from(rnd: random.Random) -> str:
    """A formula from the catalog's models and KPIs, then possibly broken: cut short, or with a
    stray character or keyword."""
    parts = [_aggregate(rnd) for _ in range(rnd.randint(1, 3))]
    if rnd.random() < 0.3:
        parts.append(f"kpi({rnd.choice([*KPI_CODES, 'NOPE'])})")
    if rnd.random() < 0.3:
        parts.append(rnd.choice(["100", "0", "period_days()", "abs(-2)", "1e3", "-1"]))
    text = parts[0]
    for part in parts[1:]:
        operator = rnd.choice([" + ", " - ", " * ", " / "])
        text = f"({text}){operator}{part}" if rnd.random() < 0.5 else f"{text}{operator}{part}"
    mutation = rnd.randint(0, 6)
    if mutation == 1:
        text = text[: rnd.randint(0, len(text))]
    elif mutation == 2:
        at = rnd.randint(0, len(text))
        stray = rnd.choice([*"()',.*$#\n\"\\", "where", "kpi(", "\x00"])
        text = text[:at] + stray + text[at:]
    return text


# -- requests and what an answer must look like ----------------------------------------------------


@dataclass
class Request:
    verb: str
    path: str
    body: bytes | None
    headers: dict[str, str]
    route: str


@dataclass
class Tally:
    sent: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _path(route: Route, values: dict[str, Any], fill: Values) -> str:
    filled = {}
    for name in route.path_fields:
        raw = values.pop(_json_name(route.input, name), None)
        if not isinstance(raw, str) or not raw:
            raw = fill.rnd.choice(_CODES) if fill.rnd.random() < 0.5 else fill.text()
        filled[name] = raw
    return route.filled(filled)


def _json_name(message: descriptor.Descriptor, name: str) -> str:
    found = message.fields_by_name.get(name)
    return found.json_name if found is not None else name


def _request(route: Route, fill: Values, callers: dict[str, dict[str, str]]) -> Request:
    rnd = fill.rnd
    values = fill.message(route.input)
    path = _path(route, values, fill)
    body: bytes | None = None
    if route.body:
        shape = rnd.randint(0, 9)
        if shape == 0:
            body = rnd.randbytes(rnd.randint(0, 40))
        elif shape == 1:
            body = json.dumps(fill.scalar()).encode()
        elif shape == 2:
            body = json.dumps(values).encode()[: rnd.randint(0, 30)]
        else:
            body = json.dumps(values).encode()
    elif values and rnd.random() < 0.5:
        scalars = {k: v for k, v in values.items() if isinstance(v, str | int | bool)}
        path += "?" + urllib.parse.urlencode(scalars)
    who = rnd.choice(sorted(callers))
    if who == "admin" and route.verb != "GET":
        who = "analyst"  # the fuzzer never writes as an administrator of the shared stack
    return Request(route.verb, path, body, callers[who], f"{route.verb} {route.template}")


@st.composite
def _request_batch(
    draw: st.DrawFn, routes: list[Route], callers: dict[str, dict[str, str]]
) -> list[Request]:
    """REQUESTS_PER_EXAMPLE requests to routes Hypothesis picks, values from its seed."""
    fill = Values(random.Random(draw(st.integers(0, 2**64))))
    return [
        _request(draw(st.sampled_from(routes)), fill, callers) for _ in range(REQUESTS_PER_EXAMPLE)
    ]


class Connections:
    """A few keep-alive connections, one per sending thread, reopened when the server closes
    one; a batch of requests goes out over all of them at once."""

    def __init__(self, stack: Stack, count: int = SENDERS) -> None:
        self._stack = stack
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(count, thread_name_prefix="fuzz")

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self._stack.host, self._stack.port, timeout=30)
            self._local.connection = connection
            with self._lock:
                self._opened.append(connection)
        return connection

    def send(self, request: Request) -> tuple[int, bytes]:
        for attempt in range(2):
            connection = self._connection()
            try:
                connection.request(
                    request.verb, request.path, body=request.body, headers=request.headers
                )
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                connection.close()  # the next request reconnects
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def send_all(self, requests: list[Request]) -> list[tuple[int, bytes]]:
        return list(self._pool.map(self.send, requests))

    def close(self) -> None:
        self._pool.shutdown()
        for connection in self._opened:
            connection.close()


def _problem(request: Request, status: int, body: bytes) -> str | None:
    """What is wrong with an answer, or None."""
    where = (
        f"{request.route} -> {status} {body[:200]!r} (sent {request.path} {request.body!r:.200})"
    )
    if status >= 500:
        return f"5xx: {where}"
    if status < 400:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        # Envoy's own refusals (no route, a body that is not JSON) are plain text, and must say
        # what was wrong.
        return None if body.strip() else f"empty error body: {where}"
    if not isinstance(answer, dict) or not str(answer.get("message", "")).strip():
        return f"error without a message: {where}"
    if answer.get("code") != INVALID_ARGUMENT:
        return None
    message = str(answer["message"])
    if message.startswith(EDGE_REFUSAL):
        # Envoy refused a body it could not transcode; its parser's explanation follows.
        explained = message.removeprefix(EDGE_REFUSAL).strip(" :\n^")
        return None if explained else f"a malformed request refused without a reason: {where}"
    if not _violated_fields(answer):
        return f"INVALID_ARGUMENT naming no field: {where}"
    return None


INVALID_ARGUMENT = 3
# How Envoy words its own refusal of a body it cannot transcode (analytics_engine/edge_replies.py).
EDGE_REFUSAL = "the request is malformed:"


def _violated_fields(answer: dict[str, Any]) -> list[str]:
    """The fields a status's google.rpc.BadRequest details name."""
    return [
        violation.get("field", "")
        for detail in answer.get("details", [])
        if isinstance(detail, dict) and detail.get("@type", "").endswith("google.rpc.BadRequest")
        for violation in detail.get("fieldViolations", [])
        if violation.get("field")
    ]


def _check(tally: Tally, connection: Connections, requests: list[Request]) -> None:
    for request, (status, body) in zip(requests, connection.send_all(requests), strict=True):
        tally.sent += 1
        tally.by_status[status] = tally.by_status.get(status, 0) + 1
        problem = _problem(request, status, body)
        if problem is not None:
            tally.problems.append(problem)


def _unimplemented_routes(connection: Connections, tokens: TokenMaker) -> set[str]:
    """Routes whose RPC answers UNIMPLEMENTED (501) to a well-formed empty request as an admin."""
    found = set()
    for route in ROUTES:
        path = route.filled(dict.fromkeys(route.path_fields, "x"))
        status, _ = connection.send(
            Request(route.verb, path, b"{}" if route.body else None, tokens.headers("admin"), "")
        )
        if status == 501:
            found.add(route.template)
    return found


def _callers(tokens: TokenMaker) -> dict[str, dict[str, str]]:
    """Request headers per kind of caller, signed once (signing is the costly part)."""
    json_body = {"content-type": "application/json"}
    callers = {"anonymous": json_body}
    for role in ("analyst", "manager", "sales", "admin"):
        signed = tokens.headers(role, FUZZ_CLIENT, region="emea", org_node="REP-001")
        callers[role] = {**json_body, **signed}
    return callers


@pytest.fixture(scope="module")
def fuzz_connection(stack: Stack) -> Iterator[Connections]:
    connection = Connections(stack)
    yield connection
    connection.close()


def _run(
    examples: int, strategy: Callable[[], st.SearchStrategy[list[Request]]], connection: Connections
) -> Tally:
    tally = Tally()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy())
    def fuzz(requests: list[Request]) -> None:
        _check(tally, connection, requests)

    fuzz()
    return tally


def test_generated_rest_requests_never_get_a_5xx_and_every_error_says_why(
    stack: Stack, stack_tokens: TokenMaker, fuzz_connection: Connections
) -> None:
    started = time.monotonic()
    skipped = _unimplemented_routes(fuzz_connection, stack_tokens)
    routes = [r for r in ROUTES if r.template not in skipped]
    callers = _callers(stack_tokens)
    tally = _run(ROUTE_EXAMPLES, lambda: _request_batch(routes, callers), fuzz_connection)
    elapsed = time.monotonic() - started
    print(
        f"\n{tally.sent} REST requests in {elapsed:.1f} s;"
        f" by status {sorted(tally.by_status.items())};"
        f" not fuzzed (UNIMPLEMENTED): {sorted(skipped)}"
    )
    assert not tally.problems, "\n".join(tally.problems[:20])
    assert tally.sent >= ROUTE_EXAMPLES * REQUESTS_PER_EXAMPLE * 0.9
    # Deep paths were reached, not only refusals at the door.
    assert tally.by_status.get(200, 0) > 0.05 * tally.sent, tally.by_status
    assert len(routes) >= 20
    # The stack survived it.
    assert one_request(stack, "GET", "/v1/kpis/SCOR_POF")[0] == 200


@st.composite
def _formula_requests(draw: st.DrawFn, headers: dict[str, str]) -> list[Request]:
    """FORMULAS_PER_EXAMPLE formulas to validate, and a calculation of a catalog KPI (or a code
    cut from a formula) grouped by generated paths."""
    rnd = random.Random(draw(st.integers(0, 2**64)))
    formulas = [formula_from(rnd) for _ in range(FORMULAS_PER_EXAMPLE - 1)]
    formulas.append(draw(st.text(string.printable, max_size=60)))
    requests = [
        Request(
            "POST",
            "/v1/formulas/validate",
            json.dumps({"formula": formula}).encode(),
            headers,
            "POST /v1/formulas/validate",
        )
        for formula in formulas
    ]
    calculate = {
        "kpiCode": draw(st.sampled_from([*KPI_CODES, "NOPE", formulas[0][:20]])),
        "timeRange": {
            "start": "2026-03-01T00:00:00Z",
            "end": draw(
                st.sampled_from(["2026-03-02T00:00:00Z", "2026-03-04T00:00:00Z", "2026-02-01"])
            ),
        },
        "period": draw(st.sampled_from(["PERIOD_HOUR", "PERIOD_DAY", "PERIOD_MINUTE"])),
        "groupBy": draw(
            st.sampled_from([[], [], ["region"], ["customer.segment"], ["owner.region", "x"]])
        ),
    }
    requests.append(
        Request(
            "POST", "/v1/calculate", json.dumps(calculate).encode(), headers, "POST /v1/calculate"
        )
    )
    return requests


def _diagnosis_problem(body: bytes) -> str | None:
    """A refused formula must say where and what."""
    answer = json.loads(body)
    if answer.get("valid"):
        return None
    diagnostics = answer.get("diagnostics", [])
    if diagnostics and all(
        d.get("message") and d.get("start", {}).get("line", 0) >= 1 for d in diagnostics
    ):
        return None
    return f"an invalid formula without a positioned diagnostic: {answer}"


def test_generated_formulas_are_validated_or_refused_with_a_position(
    stack: Stack, stack_tokens: TokenMaker, fuzz_connection: Connections
) -> None:
    started = time.monotonic()
    tally = Tally()
    verdicts = {True: 0, False: 0}

    @settings(
        max_examples=FORMULA_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(_formula_requests(_callers(stack_tokens)["analyst"]))
    def fuzz(requests: list[Request]) -> None:
        answers = fuzz_connection.send_all(requests)
        for request, (status, body) in zip(requests, answers, strict=True):
            tally.sent += 1
            tally.by_status[status] = tally.by_status.get(status, 0) + 1
            problem = _problem(request, status, body)
            if problem is None and status == 200 and request.path == "/v1/formulas/validate":
                verdicts[bool(json.loads(body).get("valid"))] += 1
                problem = _diagnosis_problem(body)
            if problem is not None:
                tally.problems.append(problem)

    fuzz()
    elapsed = time.monotonic() - started
    print(
        f"\n{tally.sent} formula requests in {elapsed:.1f} s: {verdicts[True]} valid, "
        f"{verdicts[False]} invalid; by status {sorted(tally.by_status.items())}"
    )
    assert not tally.problems, "\n".join(tally.problems[:20])
    checked = FORMULA_EXAMPLES * FORMULAS_PER_EXAMPLE
    assert min(verdicts.values()) > 0.1 * checked, verdicts
