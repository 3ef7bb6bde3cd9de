"""A request's ProposalInputs → validated pricing choices, every default filled in.

KPIs are resolved against the catalog (their value chains and object models come from there); the
value chains are detected from the KPIs unless named; object models the KPIs need and the request
leaves out get the recommended integration. Every refusal names the field under `inputs.`.
"""

from __future__ import annotations

from decimal import Decimal

from analytics.config.v1 import proposal_pb2

from services.config.pricing import model
from services.config.pricing.licensing import validate_term
from services.config.pricing.retention import DEFAULT_POLICY
from services.config.pricing.tables import DEFAULT_CURRENCY, RECOMMENDED_INTEGRATION
from services.config.proposals.catalog import CatalogFacts
from services.config.proposals.proto_values import (
    decimal_from_text,
    from_proto_enum,
    hours_from_proto,
    money_from_proto,
    plain_text,
    policy_from_proto,
)
from services.errors import InvalidArgument

ROOT = "inputs"
DEFAULT_LICENSE_TERM_YEARS = 1
DEFAULT_DAILY_VOLUME_GB = Decimal(1)
DEFAULT_CONCURRENT_USERS = 25
DEFAULT_REFRESH_PERIOD = model.RefreshPeriod.MINUTE
DEFAULT_ENVIRONMENT = model.Environment.NONE


def choices_from_inputs(
    inputs: proposal_pb2.ProposalInputs, catalog: CatalogFacts
) -> model.ProposalChoices:
    if inputs.currency_code not in ("", DEFAULT_CURRENCY):
        raise InvalidArgument.for_field(
            f"{ROOT}.currency_code", f"prices exist in {DEFAULT_CURRENCY} only")
    plain_text(inputs.client_name, f"{ROOT}.client_name")
    kpis = _kpis(inputs, catalog)
    environment = from_proto_enum(
        model.Environment, inputs.environment.environment, f"{ROOT}.environment.environment",
        DEFAULT_ENVIRONMENT)
    term = inputs.license_term_years or DEFAULT_LICENSE_TERM_YEARS
    validate_term(term, f"{ROOT}.license_term_years")
    return model.ProposalChoices(
        kpis=kpis,
        value_chain_codes=_value_chains(inputs, kpis, catalog),
        license_term_years=term,
        integrations=_integrations(inputs, kpis, catalog),
        environment=environment,
        cloud_architect_hours_hundredths=inputs.environment.cloud_architect_hours_hundredths,
        retention_policy=(
            policy_from_proto(inputs.retention_policy, f"{ROOT}.retention_policy")
            if inputs.HasField("retention_policy") else DEFAULT_POLICY
        ),
        compliance=tuple(dict.fromkeys(
            from_proto_enum(model.Compliance, value, f"{ROOT}.compliance_requirements[{i}]")
            for i, value in enumerate(inputs.compliance_requirements)
        )),
        other_compliance=plain_text(inputs.other_compliance, f"{ROOT}.other_compliance"),
        infrastructure=_infrastructure(inputs.infrastructure, len(kpis)),
        managed_services=model.ManagedServicesChoice(
            inputs.managed_services.include_retainer,
            inputs.managed_services.additional_hours_hundredths,
        ),
    )


def _kpis(
    inputs: proposal_pb2.ProposalInputs, catalog: CatalogFacts
) -> tuple[model.KpiChoice, ...]:
    if not inputs.kpis:
        raise InvalidArgument.for_field(f"{ROOT}.kpis", "select at least one KPI")
    chosen: dict[str, model.KpiChoice] = {}
    for i, selected in enumerate(inputs.kpis):
        field = f"{ROOT}.kpis[{i}]"
        code = selected.kpi_code.strip().upper()
        kpi = catalog.kpis.get(code)
        if kpi is None:
            raise InvalidArgument.for_field(
                f"{field}.kpi_code",
                f"unknown KPI {selected.kpi_code!r}; GET /v1/kpis lists the catalog")
        if code in chosen:
            raise InvalidArgument.for_field(f"{field}.kpi_code", f"{code} is selected twice")
        complexity = from_proto_enum(
            model.Complexity, selected.complexity, f"{field}.complexity", model.Complexity.OTB)
        chosen[code] = model.KpiChoice(
            code=code, name=kpi.name, value_chain_code=kpi.value_chain_code,
            complexity=complexity,
            tm_hours=hours_from_proto(selected.tm_hours) if selected.HasField("tm_hours") else None,
        )
    return tuple(chosen.values())


def _value_chains(
    inputs: proposal_pb2.ProposalInputs, kpis: tuple[model.KpiChoice, ...], catalog: CatalogFacts
) -> tuple[str, ...]:
    detected = tuple(dict.fromkeys(kpi.value_chain_code for kpi in kpis if kpi.value_chain_code))
    if not inputs.value_chain_codes:
        return detected
    named: list[str] = []
    for i, text in enumerate(inputs.value_chain_codes):
        code = text.strip().upper()
        if code not in catalog.value_chain_names:
            raise InvalidArgument.for_field(
                f"{ROOT}.value_chain_codes[{i}]",
                f"unknown value chain {text!r}; GET /v1/value-chains lists them")
        if code not in named:
            named.append(code)
    missing = [code for code in detected if code not in named]
    if missing:
        raise InvalidArgument.for_field(
            f"{ROOT}.value_chain_codes",
            f"must include {', '.join(missing)}, the value chain(s) of the selected KPIs")
    return tuple(named)


def _integrations(
    inputs: proposal_pb2.ProposalInputs, kpis: tuple[model.KpiChoice, ...], catalog: CatalogFacts
) -> tuple[model.IntegrationChoice, ...]:
    given: dict[str, model.IntegrationChoice] = {}
    for i, selection in enumerate(inputs.integrations):
        field = f"{ROOT}.integrations[{i}]"
        code = selection.object_model_code.strip().upper()
        if code not in catalog.object_model_names:
            raise InvalidArgument.for_field(
                f"{field}.object_model_code",
                f"unknown object model {selection.object_model_code!r}; "
                "GET /v1/object-models lists them")
        if code in given:
            raise InvalidArgument.for_field(f"{field}.object_model_code", f"{code} is given twice")
        given[code] = model.IntegrationChoice(
            object_model_code=code,
            object_model_name=catalog.object_model_names[code],
            source_system=plain_text(selection.source_system, f"{field}.source_system"),
            integration_type=from_proto_enum(
                model.IntegrationType, selection.integration_type, f"{field}.integration_type"),
            tm_hours=(hours_from_proto(selection.tm_hours)
                      if selection.HasField("tm_hours") else None),
        )
    required = dict.fromkeys(
        code for kpi in kpis for code in catalog.kpis[kpi.code].object_model_codes)
    ordered = [
        given.get(code) or model.IntegrationChoice(
            code, catalog.object_model_names.get(code, code), "", RECOMMENDED_INTEGRATION)
        for code in required
    ]
    ordered += [choice for code, choice in given.items() if code not in required]
    return tuple(ordered)


def _infrastructure(
    message: proposal_pb2.InfrastructureInputs, kpi_count: int
) -> model.InfrastructureInputs:
    field = f"{ROOT}.infrastructure"
    refresh = from_proto_enum(
        model.RefreshPeriod, message.refresh_period, f"{field}.refresh_period",
        DEFAULT_REFRESH_PERIOD)
    return model.InfrastructureInputs(
        daily_volume_gb=(
            decimal_from_text(message.daily_volume_gb, f"{field}.daily_volume_gb")
            if message.daily_volume_gb.strip() else DEFAULT_DAILY_VOLUME_GB
        ),
        concurrent_users=message.concurrent_users or DEFAULT_CONCURRENT_USERS,
        refresh_period=refresh,
        kpi_count=message.kpi_count or kpi_count,
        queries_per_day=message.queries_per_day,
        overrides=_overrides(message.overrides, f"{field}.overrides"),
    )


def _overrides(
    message: proposal_pb2.InfrastructureOverrides, field: str
) -> model.InfrastructureOverrides:
    def group(name: str) -> model.InstanceGroupOverride:
        g: proposal_pb2.InstanceGroupOverride = getattr(message, name)
        return model.InstanceGroupOverride(
            instance_type=plain_text(g.instance_type, f"{field}.{name}.instance_type") or None,
            instance_count=g.instance_count if g.HasField("instance_count") else None,
            monthly_cost_per_instance=(
                money_from_proto(g.monthly_cost_per_instance,
                                 f"{field}.{name}.monthly_cost_per_instance")
                if g.HasField("monthly_cost_per_instance") else None),
        )

    def volume(name: str) -> Decimal | None:
        if not message.HasField(name):  # type: ignore[arg-type]
            return None
        return decimal_from_text(getattr(message, name), f"{field}.{name}")

    def price(name: str) -> Decimal | None:
        if not message.HasField(name):  # type: ignore[arg-type]
            return None
        unit_price = getattr(message, name)
        if unit_price.currency_code not in ("", DEFAULT_CURRENCY):
            raise InvalidArgument.for_field(
                f"{field}.{name}.currency_code", f"prices are in {DEFAULT_CURRENCY}")
        return decimal_from_text(unit_price.amount, f"{field}.{name}.amount")

    return model.InfrastructureOverrides(
        api_gateway=group("api_gateway"),
        business_services=group("business_services"),
        backend_services=group("backend_services"),
        active_storage_gb=volume("active_storage_gb"),
        archive_storage_gb=volume("archive_storage_gb"),
        hot_storage_price=price("hot_storage_price"),
        cold_storage_price=price("cold_storage_price"),
        redis_instance_type=plain_text(
            message.redis_instance_type, f"{field}.redis_instance_type") or None,
        redis_monthly_cost=(
            money_from_proto(message.redis_monthly_cost, f"{field}.redis_monthly_cost")
            if message.HasField("redis_monthly_cost") else None),
        data_transfer_gb=volume("data_transfer_gb"),
        network_price=price("network_price"),
    )
