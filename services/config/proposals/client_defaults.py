"""Inputs a proposal leaves unset, taken from the client's configuration when there is one: its
name, selected KPIs with their complexity, licence term, environment, retention policy, compliance
regimes, currency and data sources. A prospect without a configuration is priced from the request
alone. The same configuration, as questionnaire answers, pre-fills the questionnaire."""

from __future__ import annotations

from collections.abc import Sequence

from analytics.config.v1 import config_pb2, proposal_pb2
from analytics.type.v1 import types_pb2
from google.protobuf import json_format

from services.config.clients.model import Client, DataSource
from services.config.proposals.proto_values import policy_from_proto
from services.config.proposals.questionnaire import policy_answers


def with_client_defaults(
    inputs: proposal_pb2.ProposalInputs, client: Client | None
) -> proposal_pb2.ProposalInputs:
    if client is None:
        return inputs
    spec = client.spec
    filled = proposal_pb2.ProposalInputs()
    filled.CopyFrom(inputs)
    if not filled.client_name.strip():
        filled.client_name = spec.name
    if not filled.kpis:
        for selected in spec.selected_kpis:
            kpi = filled.kpis.add(
                kpi_code=selected.kpi_code,
                complexity=config_pb2.ImplementationComplexity.Value(
                    "IMPLEMENTATION_COMPLEXITY_" + selected.complexity.value.upper()))
            if selected.tm_hours is not None:
                kpi.tm_hours.min_hours_hundredths = selected.tm_hours.min_hundredths
                kpi.tm_hours.max_hours_hundredths = selected.tm_hours.max_hundredths
    if not filled.license_term_years:
        filled.license_term_years = spec.license_term_years
    if not filled.environment.environment and spec.environment is not None:
        filled.environment.environment = config_pb2.Environment.Value(
            "ENVIRONMENT_" + spec.environment.value.upper())
    if not filled.HasField("retention_policy") and spec.retention_policy is not None:
        json_format.ParseDict(dict(spec.retention_policy), filled.retention_policy,
                              ignore_unknown_fields=True)
    if not filled.compliance_requirements:
        filled.compliance_requirements.extend(
            config_pb2.ComplianceRequirement.Value("COMPLIANCE_REQUIREMENT_" + c.value.upper())
            for c in spec.compliance)
    if not filled.other_compliance:
        filled.other_compliance = spec.other_compliance
    if not filled.currency_code:
        filled.currency_code = spec.currency_code
    return filled


def with_data_sources(
    inputs: proposal_pb2.ProposalInputs, sources: Sequence[DataSource]
) -> proposal_pb2.ProposalInputs:
    """The client's data sources as the integrations a proposal leaves unset (the first source
    of each object model; integration is priced per object model)."""
    if inputs.integrations or not sources:
        return inputs
    filled = proposal_pb2.ProposalInputs()
    filled.CopyFrom(inputs)
    for source in _first_per_object_model(sources):
        integration = filled.integrations.add(
            object_model_code=source.object_model_code,
            source_system=source.source_system,
            integration_type=config_pb2.IntegrationType.Value(
                "INTEGRATION_TYPE_" + source.integration_type.value.upper()))
        if source.tm_hours is not None:
            integration.tm_hours.min_hours_hundredths = source.tm_hours.min_hundredths
            integration.tm_hours.max_hours_hundredths = source.tm_hours.max_hundredths
    return filled


def client_answers(
    client: Client | None, sources: Sequence[DataSource] = ()
) -> list[proposal_pb2.Answer]:
    """The client's saved configuration as questionnaire answers: complexity (and T&M hours) per
    selected KPI, licence term, environment, retention policy, compliance regimes, and each object
    model's source system and integration type."""
    answers: list[proposal_pb2.Answer] = []

    def add(question_id: str, value: proposal_pb2.AnswerValue, subject: str = "") -> None:
        answers.append(proposal_pb2.Answer(question_id=question_id, subject=subject, value=value))

    def hours(prefix: str, subject: str, low_hundredths: int, high_hundredths: int) -> None:
        add(f"{prefix}_min_hours", proposal_pb2.AnswerValue(integer=low_hundredths // 100),
            subject)
        add(f"{prefix}_max_hours", proposal_pb2.AnswerValue(integer=high_hundredths // 100),
            subject)

    if client is not None:
        spec = client.spec
        for selected in spec.selected_kpis:
            add("kpi_complexity", _choice(selected.complexity.value.upper()), selected.kpi_code)
            if selected.tm_hours is not None:
                hours("kpi_tm", selected.kpi_code, selected.tm_hours.min_hundredths,
                      selected.tm_hours.max_hundredths)
        if spec.license_term_years:
            add("license_term_years", _choice(str(spec.license_term_years)))
        if spec.environment is not None:
            add("environment", _choice(spec.environment.value.upper()))
        if spec.retention_policy is not None:
            saved = types_pb2.DataRetentionPolicy()
            json_format.ParseDict(dict(spec.retention_policy), saved, ignore_unknown_fields=True)
            answers.extend(policy_answers(policy_from_proto(saved, "retention_policy")))
        if spec.compliance:
            add("compliance_requirements", proposal_pb2.AnswerValue(choices=proposal_pb2.ChoiceList(
                values=[c.value.upper() for c in spec.compliance])))
        if spec.other_compliance:
            add("other_compliance", proposal_pb2.AnswerValue(text=spec.other_compliance))
    for source in _first_per_object_model(sources):
        code = source.object_model_code
        add("integration_type", _choice(source.integration_type.value.upper()), code)
        if source.source_system:
            add("source_system", proposal_pb2.AnswerValue(text=source.source_system), code)
        if source.tm_hours is not None:
            hours("integration_tm", code, source.tm_hours.min_hundredths,
                  source.tm_hours.max_hundredths)
    return answers


def _choice(value: str) -> proposal_pb2.AnswerValue:
    return proposal_pb2.AnswerValue(choice=value)


def _first_per_object_model(sources: Sequence[DataSource]) -> list[DataSource]:
    first: dict[str, DataSource] = {}
    for source in sources:
        first.setdefault(source.object_model_code, source)
    return list(first.values())


def selected_kpi_codes(client: Client | None) -> list[str]:
    return [] if client is None else [s.kpi_code for s in client.spec.selected_kpis]
