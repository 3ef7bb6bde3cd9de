"""Priced proposals → contract messages."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from analytics.config.v1 import config_pb2, proposal_pb2
from analytics.type.v1 import types_pb2
from google.protobuf import timestamp_pb2

from services.config.pricing import model, results
from services.config.pricing.money import MoneyRange
from services.config.pricing.proposal import PricedProposal
from services.config.proposals.proto_values import (
    decimal_text,
    duration,
    hours_range,
    money,
    policy,
    to_proto_enum,
)


@dataclass(frozen=True)
class Issue:
    """Who a proposal is for, which version it is and when it was issued."""

    proposal_id: str
    client_id: str
    client_name: str
    version: int
    issue_time: datetime.datetime
    valid_until: datetime.datetime
    created_by: str


def service_proposal(
    priced: PricedProposal, issue: Issue, document_markdown: str
) -> proposal_pb2.ServiceProposal:
    return proposal_pb2.ServiceProposal(
        proposal_id=issue.proposal_id,
        client_id=issue.client_id,
        client_name=issue.client_name,
        version=issue.version,
        issue_time=_timestamp(issue.issue_time),
        valid_until=_timestamp(issue.valid_until),
        currency_code="USD",
        inputs=priced_inputs(priced.choices, issue),
        licensing=_licensing(priced.licensing),
        implementation=_implementation(priced.implementation),
        infrastructure=_infrastructure(priced.infrastructure),
        managed_services=_managed(priced.managed_services),
        totals=proposal_pb2.ProposalTotals(
            year1=_range(priced.totals.year1),
            yearly_recurring=money(priced.totals.yearly_recurring),
            term_total=_range(priced.totals.term_total),
            term_years=priced.totals.term_years,
        ),
        resources=[
            proposal_pb2.ResourceAssignment(
                role=to_proto_enum(r.role),
                role_label=r.role_label, name=r.name, start_week=r.start_week,
                end_week=r.end_week, as_needed=r.as_needed,
                hourly_rate=money(r.hourly_rate) if r.hourly_rate is not None else None,
                estimated_hours_hundredths=r.estimated_hours_hundredths,
            )
            for r in priced.resources
        ],
        timeline=[
            proposal_pb2.TimelinePhase(
                phase=to_proto_enum(p.phase),
                label=p.label, start_week=p.start_week, end_week=p.end_week,
                roles=[to_proto_enum(r) for r in p.roles],
            )
            for p in priced.timeline
        ],
        compliance_adjustments=[compliance_adjustment(a) for a in priced.compliance_adjustments],
        effective_retention_policy=policy(priced.effective_retention_policy),
        document_markdown=document_markdown,
        created_by=issue.created_by,
    )


def compliance_adjustment(
    adjustment: results.ComplianceAdjustment,
) -> proposal_pb2.ComplianceAdjustment:
    return proposal_pb2.ComplianceAdjustment(
        requirement=to_proto_enum(adjustment.requirement),
        data_type=to_proto_enum(adjustment.data_type),
        minimum_retention=duration(adjustment.minimum_retention),
        message=adjustment.message,
    )


def priced_inputs(
    choices: model.ProposalChoices, issue: Issue | None
) -> proposal_pb2.ProposalInputs:
    """The inputs as priced, every default filled in: sending them again prices the same."""
    infra = choices.infrastructure
    o = infra.overrides
    inputs = proposal_pb2.ProposalInputs(
        client_id=issue.client_id if issue else "",
        client_name=issue.client_name if issue else "",
        kpis=[
            config_pb2.SelectedKpi(
                kpi_code=k.code, complexity=to_proto_enum(k.complexity),
                tm_hours=hours_range(k.tm_hours) if k.tm_hours else None)
            for k in choices.kpis
        ],
        value_chain_codes=choices.value_chain_codes,
        license_term_years=choices.license_term_years,
        integrations=[
            proposal_pb2.DataIntegrationSelection(
                object_model_code=i.object_model_code, source_system=i.source_system,
                integration_type=to_proto_enum(i.integration_type),
                tm_hours=hours_range(i.tm_hours) if i.tm_hours else None)
            for i in choices.integrations
        ],
        environment=proposal_pb2.EnvironmentSelection(
            environment=to_proto_enum(choices.environment),
            cloud_architect_hours_hundredths=choices.cloud_architect_hours_hundredths),
        retention_policy=policy(choices.retention_policy),
        compliance_requirements=[to_proto_enum(c) for c in choices.compliance],
        other_compliance=choices.other_compliance,
        infrastructure=proposal_pb2.InfrastructureInputs(
            daily_volume_gb=decimal_text(infra.daily_volume_gb),
            concurrent_users=infra.concurrent_users,
            refresh_period=to_proto_enum(infra.refresh_period),
            kpi_count=infra.kpi_count,
            queries_per_day=infra.queries_per_day,
            overrides=proposal_pb2.InfrastructureOverrides(
                api_gateway=_group_override(o.api_gateway),
                business_services=_group_override(o.business_services),
                backend_services=_group_override(o.backend_services),
                active_storage_gb=_opt_text(o.active_storage_gb),
                archive_storage_gb=_opt_text(o.archive_storage_gb),
                hot_storage_price=_opt_price(o.hot_storage_price, "GB-month"),
                cold_storage_price=_opt_price(o.cold_storage_price, "GB-month"),
                redis_instance_type=o.redis_instance_type or "",
                redis_monthly_cost=money(o.redis_monthly_cost) if o.redis_monthly_cost else None,
                data_transfer_gb=_opt_text(o.data_transfer_gb),
                network_price=_opt_price(o.network_price, "GB"),
            ),
        ),
        managed_services=proposal_pb2.ManagedServicesSelection(
            include_retainer=choices.managed_services.include_retainer,
            additional_hours_hundredths=choices.managed_services.additional_hours_hundredths),
        currency_code="USD",
    )
    if issue is not None:
        inputs.issue_time.CopyFrom(_timestamp(issue.issue_time))
    return inputs


def _licensing(lic: results.Licensing) -> proposal_pb2.LicensingCost:
    return proposal_pb2.LicensingCost(
        value_chain_codes=lic.value_chain_codes, license_term_years=lic.term_years,
        annual_cost_per_chain=money(lic.annual_per_chain), discount_percent=lic.discount_percent,
        annual_total=money(lic.annual_total), term_total=money(lic.term_total))


def _implementation(impl: results.Implementation) -> proposal_pb2.ImplementationCost:
    setup = impl.environment_setup
    return proposal_pb2.ImplementationCost(
        data_integration=[
            proposal_pb2.DataIntegrationLine(
                object_model_code=line.object_model_code,
                object_model_name=line.object_model_name, source_system=line.source_system,
                integration_type=to_proto_enum(line.integration_type),
                integration_type_label=line.label,
                pricing=to_proto_enum(line.pricing),
                hours_hundredths=line.hours_hundredths,
                internal_cost=money(line.internal_cost), cost=money(line.cost))
            for line in impl.data_integration
        ],
        data_integration_subtotal=money(impl.data_integration_subtotal),
        kpi_implementation=[
            proposal_pb2.KpiImplementationLine(
                kpi_code=line.kpi_code, kpi_name=line.kpi_name,
                complexity=to_proto_enum(line.complexity),
                pricing=to_proto_enum(line.pricing),
                hours_hundredths=line.hours_hundredths,
                internal_cost=money(line.internal_cost), cost=money(line.cost))
            for line in impl.kpi_implementation
        ],
        kpi_implementation_subtotal=money(impl.kpi_implementation_subtotal),
        environment_setup=proposal_pb2.EnvironmentSetupCost(
            environment=to_proto_enum(setup.environment), platform_label=setup.platform_label,
            setup_required=setup.setup_required,
            cloud_architect_hours_hundredths=setup.cloud_architect_hours_hundredths,
            cloud_architect_hours_range=hours_range(setup.cloud_architect_hours_range),
            hourly_rate=money(setup.hourly_rate), cost=money(setup.cost),
            access_specialist_included=setup.access_specialist_included),
        environment_subtotal=money(impl.environment_subtotal),
        tm_items=[
            proposal_pb2.TmItem(
                description=item.description, subjects=item.subjects,
                hours=hours_range(item.hours), hourly_rate=money(item.hourly_rate),
                estimated_cost=_range(item.estimated_cost))
            for item in impl.tm_items
        ],
        fixed_cost_total=money(impl.fixed_cost_total),
        tm_cost_range=_range(impl.tm_cost_range),
        implementation_total=_range(impl.total),
    )


def _infrastructure(infra: results.Infrastructure) -> proposal_pb2.InfrastructureCost:
    compute, storage, network = infra.compute, infra.storage, infra.network
    return proposal_pb2.InfrastructureCost(
        compute=proposal_pb2.ComputeCost(
            api_gateway=_group(compute.api_gateway),
            business_services=_group(compute.business_services),
            backend_services=_group(compute.backend_services),
            monthly=money(compute.monthly), annual=money(compute.monthly.times(12))),
        storage=proposal_pb2.StorageCost(
            active_database=_tier(storage.active_database),
            archived_data=_tier(storage.archived_data),
            redis=proposal_pb2.RedisCost(instance_type=storage.redis_instance_type,
                                         monthly_cost=money(storage.redis_monthly_cost)),
            monthly=money(storage.monthly), annual=money(storage.monthly.times(12))),
        network=proposal_pb2.NetworkCost(
            data_transfer_gb=decimal_text(network.data_transfer_gb),
            price_per_gb=_price(network.price_per_gb, "GB"),
            monthly=money(network.monthly), annual=money(network.monthly.times(12))),
        monthly_total=money(infra.monthly_total),
        annual_total=money(infra.annual_total),
        monthly_breakdown=proposal_pb2.InfrastructureBreakdown(
            api_gateway=money(compute.api_gateway.monthly_cost),
            business_services=money(compute.business_services.monthly_cost),
            backend_services=money(compute.backend_services.monthly_cost),
            database=money(storage.active_database.monthly_cost),
            archival=money(storage.archived_data.monthly_cost),
            redis=money(storage.redis_monthly_cost),
            network=money(network.monthly)),
        sizing_notes=infra.sizing_notes,
    )


def _managed(managed: results.ManagedServices) -> proposal_pb2.ManagedServicesCost:
    return proposal_pb2.ManagedServicesCost(
        included=managed.included, retainer=money(managed.retainer),
        retainer_hours_hundredths=managed.retainer_hours_hundredths,
        hourly_rate=money(managed.hourly_rate),
        additional_hours_hundredths=managed.additional_hours_hundredths,
        additional_cost=money(managed.additional_cost),
        annual_total=money(managed.annual_total))


def _group(group: results.InstanceGroup) -> proposal_pb2.InstanceGroupCost:
    return proposal_pb2.InstanceGroupCost(
        instance_type=group.instance_type, instance_count=group.instance_count,
        monthly_cost_per_instance=money(group.monthly_cost_per_instance),
        monthly_cost=money(group.monthly_cost))


def _tier(tier: results.StorageTier) -> proposal_pb2.StorageTierCost:
    return proposal_pb2.StorageTierCost(
        storage_gb=decimal_text(tier.storage_gb),
        price_per_gb_month=_price(tier.price_per_gb_month, "GB-month"),
        monthly_cost=money(tier.monthly_cost))


def _group_override(group: model.InstanceGroupOverride) -> proposal_pb2.InstanceGroupOverride:
    message = proposal_pb2.InstanceGroupOverride(instance_type=group.instance_type or "")
    if group.instance_count is not None:
        message.instance_count = group.instance_count
    if group.monthly_cost_per_instance is not None:
        message.monthly_cost_per_instance.CopyFrom(money(group.monthly_cost_per_instance))
    return message


def _price(amount: Decimal, unit: str) -> types_pb2.UnitPrice:
    return types_pb2.UnitPrice(currency_code="USD", amount=decimal_text(amount), unit=unit)


def _opt_price(amount: Decimal | None, unit: str) -> types_pb2.UnitPrice | None:
    return None if amount is None else _price(amount, unit)


def _opt_text(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def _range(value: MoneyRange) -> types_pb2.MoneyRange:
    return types_pb2.MoneyRange(min=money(value.min), max=money(value.max))


def _timestamp(moment: datetime.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp

