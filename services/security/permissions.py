"""Who may call what: the one role × RPC table.

Every service's runtime interceptor enforces it, Envoy's RBAC rules are rendered from it, and the
README shows it (a test keeps the three in step). A public RPC missing from the table is callable by
an admin only, so forgetting a row fails closed.

Tenancy is a second, separate check made inside the services (`services.security.tenancy`): being
allowed to call `Calculate` does not let an analyst name another client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.runtime.contracts import is_internal as is_internal_service
from services.security.caller import Caller, Role

ANONYMOUS = "anonymous"
"""A caller without a token; allowed only where a rule says so (reading the catalog)."""

ADMIN, ANALYST, MANAGER, SALES, OPERATOR = (
    Role.ADMIN,
    Role.ANALYST,
    Role.MANAGER,
    Role.SALES,
    Role.OPERATOR,
)

HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIX = "/grpc.reflection."


@dataclass(frozen=True)
class Rule:
    """Who may call one public RPC."""

    roles: frozenset[Role]
    anonymous: bool = False

    def allows(self, caller: Caller | None) -> bool:
        if caller is None:
            return self.anonymous
        return caller.is_admin or caller.role in self.roles

    def principals(self) -> list[str]:
        """Role names (and `anonymous`) in a fixed order, for Envoy and the README."""
        names = [r.value for r in Role if r is ADMIN or r in self.roles]
        return [ANONYMOUS, *names] if self.anonymous else names


def _rule(*roles: Role, anonymous: bool = False) -> Rule:
    return Rule(frozenset({ADMIN, *roles}), anonymous)


EVERYONE = _rule(ANALYST, MANAGER, SALES, OPERATOR, anonymous=True)
TENANT_READERS = _rule(ANALYST, MANAGER, SALES)
"""Reads of one client's figures; RBAC KPIs narrow further what each of them sees."""
TENANT_EDITORS = _rule(MANAGER)
OPERATORS = _rule(OPERATOR)
SELLERS = _rule(MANAGER, SALES)
CONFIGURERS = _rule(SALES)
"""Sales configure prospects' clients and make proposals."""
ADMINS = _rule()


def _service(name: str, rule: Rule, methods: Iterable[str]) -> dict[str, Rule]:
    return {f"/{name}/{method}": rule for method in methods}


PERMISSIONS: Mapping[str, Rule] = {
    # The menu: anyone, even without a token, may read what KPIs and models exist.
    **_service(
        "analytics.catalog.v1.CatalogService",
        EVERYONE,
        [
            "ListKpis", "GetKpi", "ListKpisByModule", "GetKpiSample", "ListObjectModels",
            "GetObjectModel", "GetObjectModelSample", "ListModules", "GetModule",
            "ListValueChains",
        ],
    ),  # fmt: skip
    **_service(
        "analytics.calculation.v1.CalculationService",
        TENANT_READERS,
        [
            "Calculate", "CalculateBatch", "CalculateDashboard", "ExportCalculation",
            "ValidateFormula", "GetHistoricalKpi", "ListBatchJobs", "GetBatchJob",
            "ListBatchJobRuns",
        ],
    ),  # fmt: skip
    **_service(
        "analytics.calculation.v1.CalculationService",
        TENANT_EDITORS,
        ["ScheduleBatchJob", "DeleteBatchJob", "RunBatchJob"],
    ),
    **_service(
        "analytics.gateway.v1.StreamService", TENANT_READERS, ["StreamKpi", "StreamDashboard"]
    ),
    **_service(
        "analytics.data.v1.DataService", TENANT_EDITORS, ["IngestRows", "StreamIngestRows"]
    ),
    **_service("analytics.config.v1.DemoDataService", TENANT_EDITORS, ["GenerateDemoData"]),
    # Everyone reads their own client's configuration (credentials are never returned); sales
    # configure prospects, so they change configurations like an admin.
    **_service(
        "analytics.config.v1.ClientConfigService",
        TENANT_READERS,
        [
            "ListClients", "GetClient", "ListCustomKpis", "GetCustomKpi", "ListDataSources",
            "GetDataSource", "ValidateFieldMappings", "AnalyzeRequiredObjects",
        ],
    ),  # fmt: skip
    **_service(
        "analytics.config.v1.ClientConfigService",
        CONFIGURERS,
        [
            "CreateClient", "UpdateClient", "DeleteClient", "CreateCustomKpi", "UpdateCustomKpi",
            "DeleteCustomKpi", "CreateDataSource", "UpdateDataSource", "DeleteDataSource",
        ],
    ),  # fmt: skip
    # Managers read their client's proposals; making one is the sales role's job.
    **_service(
        "analytics.config.v1.ProposalService",
        SELLERS,
        ["GetQuestionnaire", "GetProposal", "ListProposals", "RenderProposalDocument"],
    ),
    **_service("analytics.config.v1.ProposalService", CONFIGURERS, ["CreateProposal"]),
    **_service(
        "analytics.archival.v1.ArchivalService",
        OPERATORS,
        [
            "ListRetentionPolicies", "GetRetentionPolicy", "UpdateRetentionPolicy",
            "RunRetention", "ArchiveRange", "ListArchives", "GetArchive",
        ],
    ),  # fmt: skip
    # Archived rows are a client's data: operators run retention but do not read them.
    **_service("analytics.archival.v1.ArchivalService", ADMINS, ["RetrieveArchivedData"]),
    **_service("analytics.ml.v1.MlService", TENANT_READERS, ["ForecastKpi", "DetectAnomalies"]),
    **_service(
        "analytics.entities.v1.EntityResolutionService",
        TENANT_READERS,
        ["ResolveEntities", "MatchEntity", "ListEntityClusters", "GetEntityCluster"],
    ),
    **_service(
        "analytics.monitor.v1.MonitorService",
        OPERATORS,
        ["GetSystemHealth", "GetServiceMetrics"],
    ),
}

OPERATOR_PREFIXES: Mapping[str, Rule] = {
    # Reflection lists every public method; the health board shows the state of the whole mesh.
    REFLECTION_PREFIX: OPERATORS,
    HEALTH_PREFIX: OPERATORS,
}
"""Infrastructure services as reached through the edge."""


def is_internal(method: str) -> bool:
    """`*InternalService` RPCs: called only by other components with the tenant named in the
    request, never routed from the edge."""
    return is_internal_service(method.strip("/").partition("/")[0])


def rule_for(method: str) -> Rule:
    """The rule for a full method name (`/pkg.Service/Method`) as a service enforces it."""
    rule = PERMISSIONS.get(method)
    if rule is not None:
        return rule
    if method.startswith(HEALTH_PREFIX):
        # Balancers and the supervisor probe each process directly, without a token.
        return EVERYONE
    if method.startswith(REFLECTION_PREFIX):
        return OPERATORS
    return ADMINS


def edge_rule_for(method: str) -> Rule:
    """The rule Envoy applies at the public listener (health there is the operators' board)."""
    for prefix, rule in OPERATOR_PREFIXES.items():
        if method.startswith(prefix):
            return rule
    return rule_for(method)


def denial(caller: Caller | None, method: str) -> str:
    """A message a person can act on, naming who may call the method."""
    allowed = ", ".join(rule_for(method).principals())
    if caller is None:
        return f"{method} needs a bearer token (Authorization: Bearer <jwt>); allowed: {allowed}"
    return f"role {caller.role.value!r} may not call {method}; allowed: {allowed}"


README_START = "<!-- permissions:start -->"
README_END = "<!-- permissions:end -->"
_COLUMNS = (ANONYMOUS, *(role.value for role in Role))


def readme_table() -> str:
    """The table as the README shows it: one row per service and set of rights."""
    rows: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for method, rule in PERMISSIONS.items():
        service, _, name = method.strip("/").partition("/")
        rows.setdefault((service.rpartition(".")[2], tuple(rule.principals())), []).append(name)
    for prefix, rule in OPERATOR_PREFIXES.items():
        label = "Reflection" if prefix == REFLECTION_PREFIX else "Health (at the edge)"
        rows[(label, tuple(rule.principals()))] = ["all"]
    header = "| Service | RPCs | " + " | ".join(_COLUMNS) + " |"
    divider = "|---|---|" + "---|" * len(_COLUMNS)
    lines = [header, divider]
    for (service, principals), methods in rows.items():
        marks = " | ".join("✓" if column in principals else "" for column in _COLUMNS)
        lines.append(f"| {service} | {', '.join(methods)} | {marks} |")
    return "\n".join(lines)
