"""The specification's worked example as a CreateProposal request over the shipped catalog."""

from __future__ import annotations

from analytics.config.v1 import config_pb2, proposal_pb2
from analytics.type.v1 import types_pb2
from google.protobuf import timestamp_pb2

ISSUE_TIME = timestamp_pb2.Timestamp(seconds=1_795_651_200)  # 2026-11-26T00:00:00Z
THIRTY_DAYS = 30 * 24 * 3600


def spec_inputs(client_id: str = "") -> proposal_pb2.ProposalInputs:
    """Two value chains on three years, four object models (one T&M), three KPIs (one Dynamic
    RBAC), AWS with 60 architect hours, the reference sizing, retainer plus 50 hours."""
    return proposal_pb2.ProposalInputs(
        client_id=client_id,
        client_name="Acme Corp",
        kpis=[
            config_pb2.SelectedKpi(kpi_code="SCOR_POF",
                                   complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_OTB),
            config_pb2.SelectedKpi(kpi_code="SCOR_OTD",
                                   complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_RBAC),
            config_pb2.SelectedKpi(kpi_code="CRM_NEW_CUSTOMERS",
                                   complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_DYNAMIC_RBAC),
        ],
        license_term_years=3,
        integrations=[
            proposal_pb2.DataIntegrationSelection(
                object_model_code="CUSTOMER", source_system="Salesforce CRM",
                integration_type=config_pb2.INTEGRATION_TYPE_STREAMING_API_ARCHITECTED),
            proposal_pb2.DataIntegrationSelection(
                object_model_code="ORDER", source_system="SAP ERP",
                integration_type=config_pb2.INTEGRATION_TYPE_BATCH_NON_CONFORMED_SINGLE_SOURCE),
            proposal_pb2.DataIntegrationSelection(
                object_model_code="PRODUCT", source_system="Internal DB",
                integration_type=config_pb2.INTEGRATION_TYPE_BATCH_CONFORMED),
            proposal_pb2.DataIntegrationSelection(
                object_model_code="SHIPMENT", source_system="Legacy TMS",
                integration_type=config_pb2.INTEGRATION_TYPE_STREAMING_API_NON_ARCHITECTED),
        ],
        environment=proposal_pb2.EnvironmentSelection(
            environment=config_pb2.ENVIRONMENT_AWS, cloud_architect_hours_hundredths=6000),
        retention_policy=types_pb2.DataRetentionPolicy(
            staged_source_data=types_pb2.DataRetentionRule(
                active_retention=types_pb2.RetentionDuration(
                    count=100, unit=types_pb2.RETENTION_UNIT_DAYS),
                archival_enabled=True,
                archive_retention=types_pb2.RetentionDuration(
                    count=400, unit=types_pb2.RETENTION_UNIT_DAYS)),
        ),
        infrastructure=proposal_pb2.InfrastructureInputs(
            daily_volume_gb="5", concurrent_users=100, refresh_period=types_pb2.PERIOD_MINUTE,
            kpi_count=20, queries_per_day=10_000),
        managed_services=proposal_pb2.ManagedServicesSelection(
            include_retainer=True, additional_hours_hundredths=5000),
        issue_time=ISSUE_TIME,
    )


def dollars(money: types_pb2.Money) -> int:
    """Whole dollars of an amount that must be whole (the worked figures are)."""
    assert money.currency_code == "USD"
    whole, cents = divmod(money.cents, 100)
    assert cents == 0, money
    return whole
