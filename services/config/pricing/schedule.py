"""Resource schedule and timeline (SPEC §5 and the document's "Resource Schedule"), scaled to the
work: the phases follow from the hours the proposal prices.

Environment setup takes the cloud architect's hours at 40 h a week (one week of access setup when
there is no new environment). Data integration starts in the last environment week and runs at 25 h
of integration work a week (fixed hours plus the most T&M hours), at least 2 weeks. KPI
implementation starts halfway through integration and ends 2 weeks after it, later when the KPI
work (at 20 h a week) needs more. Testing & UAT starts in the last KPI week and lasts 2 weeks plus
one per 25 KPIs; go-live is the week after. The worked example (60 h of environment, ~115 h of
integration, a few KPIs) gives the specification's plan: weeks 1-2, 2-6, 4-8, 7-9 and 10.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from services.config.pricing.money import HUNDREDTHS_PER_HOUR
from services.config.pricing.results import (
    Implementation,
    Phase,
    ResourceAssignment,
    ResourceRole,
    TimelinePhase,
)
from services.config.pricing.tables import ARCHITECT_RATE, INTERNAL_RATE

ARCHITECT_HOURS_PER_WEEK = 40
INTEGRATION_HOURS_PER_WEEK = 25
KPI_HOURS_PER_WEEK = 20
KPIS_PER_TESTING_WEEK = 25

ROLE_LABELS = {
    ResourceRole.INTEGRATION_DEVELOPER: "Integration Developer/Analyst",
    ResourceRole.INTEGRATION_ARCHITECT: "Integration Architect",
    ResourceRole.ACCESS_SPECIALIST: "Access Specialist",
    ResourceRole.CLOUD_ARCHITECT: "Cloud Architect",
}
PHASE_LABELS = {
    Phase.ENVIRONMENT_SETUP: "Environment Setup",
    Phase.DATA_INTEGRATION: "Data Integration",
    Phase.KPI_IMPLEMENTATION: "KPI Implementation",
    Phase.TESTING_UAT: "Testing & UAT",
    Phase.GO_LIVE: "Go-Live",
}


def plan(
    implementation: Implementation,
) -> tuple[tuple[ResourceAssignment, ...], tuple[TimelinePhase, ...]]:
    setup = implementation.environment_setup
    tm_integration = sum(
        item.hours.max_hundredths for item in implementation.tm_items
        if set(item.subjects) & {line.object_model_code for line in implementation.data_integration}
    )
    tm_kpis = sum(item.hours.max_hundredths for item in implementation.tm_items) - tm_integration
    integration_hours = sum(line.hours_hundredths for line in implementation.data_integration)
    kpi_hours = sum(line.hours_hundredths for line in implementation.kpi_implementation)

    env_weeks = max(1, _weeks(setup.cloud_architect_hours_hundredths, ARCHITECT_HOURS_PER_WEEK))
    integration_start = env_weeks
    integration_end = integration_start + max(
        2, _weeks(integration_hours + tm_integration, INTEGRATION_HOURS_PER_WEEK)
    ) - 1
    kpi_start = integration_start + (integration_end - integration_start + 1) // 2
    kpi_end = max(
        integration_end + 2, kpi_start + _weeks(kpi_hours + tm_kpis, KPI_HOURS_PER_WEEK) - 1
    )
    kpi_count = len(implementation.kpi_implementation)
    testing_start = kpi_end - 1
    testing_end = testing_start + 2 + -(-kpi_count // KPIS_PER_TESTING_WEEK) - 1
    go_live = testing_end + 1

    dev, arch = ResourceRole.INTEGRATION_DEVELOPER, ResourceRole.INTEGRATION_ARCHITECT
    access, cloud = ResourceRole.ACCESS_SPECIALIST, ResourceRole.CLOUD_ARCHITECT
    has_tm = bool(implementation.tm_items)
    resources = [
        ResourceAssignment(dev, ROLE_LABELS[dev], 1, kpi_end, False, INTERNAL_RATE,
                           integration_hours + kpi_hours),
    ]
    if has_tm:
        resources.append(ResourceAssignment(arch, ROLE_LABELS[arch], 0, 0, True, ARCHITECT_RATE,
                                            tm_integration + tm_kpis))
    resources.append(ResourceAssignment(access, ROLE_LABELS[access], 1, 1, False, None, 0))
    if setup.setup_required:
        resources.append(ResourceAssignment(cloud, ROLE_LABELS[cloud], 1, env_weeks, False,
                                            ARCHITECT_RATE, setup.cloud_architect_hours_hundredths))
    build_roles = (dev, arch) if has_tm else (dev,)
    timeline = (
        TimelinePhase(Phase.ENVIRONMENT_SETUP, PHASE_LABELS[Phase.ENVIRONMENT_SETUP], 1, env_weeks,
                      (access, cloud) if setup.setup_required else (access,)),
        TimelinePhase(Phase.DATA_INTEGRATION, PHASE_LABELS[Phase.DATA_INTEGRATION],
                      integration_start, integration_end, build_roles),
        TimelinePhase(Phase.KPI_IMPLEMENTATION, PHASE_LABELS[Phase.KPI_IMPLEMENTATION],
                      kpi_start, kpi_end, build_roles),
        TimelinePhase(Phase.TESTING_UAT, PHASE_LABELS[Phase.TESTING_UAT],
                      testing_start, testing_end, (dev,)),
        TimelinePhase(Phase.GO_LIVE, PHASE_LABELS[Phase.GO_LIVE], go_live, go_live, (dev,)),
    )
    return tuple(resources), timeline


def _weeks(hours_hundredths: int, hours_per_week: int) -> int:
    hours = Decimal(hours_hundredths) / HUNDREDTHS_PER_HOUR
    return int((hours / hours_per_week).to_integral_value(rounding=ROUND_CEILING))
