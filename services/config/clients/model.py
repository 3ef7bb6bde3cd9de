"""The values of a client configuration. Plain frozen data: no gRPC, no SQL."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Mapping
from typing import Any

from services.catalog.domain import Direction, FieldType, Thresholds
from services.security.secrets import Credentials

JsonObject = Mapping[str, Any]

# Versions of clients, custom KPIs and data sources are stored as PostgreSQL integers: none is
# larger, so a larger one asked for does not exist (and an etag naming one was not issued here).
LARGEST_VERSION = 2**31 - 1


class Complexity(enum.StrEnum):
    """How much work implementing a selected KPI takes (and, for RBAC, how rows are filtered)."""

    OTB = "otb"
    CUSTOM_BASIC = "custom_basic"
    RBAC = "rbac"
    DYNAMIC_RBAC = "dynamic_rbac"

    @property
    def is_time_and_materials(self) -> bool:
        return self is Complexity.DYNAMIC_RBAC


class IntegrationType(enum.StrEnum):
    """How an object model's data is integrated: the rows of the spec's integration tables."""

    BATCH_CONFORMED = "batch_conformed"
    BATCH_NON_CONFORMED_SINGLE_SOURCE = "batch_non_conformed_single_source"
    BATCH_NON_CONFORMED_MULTI_SOURCE = "batch_non_conformed_multi_source"
    BATCH_ENTITY_RESOLUTION = "batch_entity_resolution"
    STREAMING_API_ARCHITECTED = "streaming_api_architected"
    STREAMING_API_NON_ARCHITECTED = "streaming_api_non_architected"

    @property
    def is_streaming(self) -> bool:
        return self.value.startswith("streaming_")

    @property
    def is_time_and_materials(self) -> bool:
        return self is IntegrationType.STREAMING_API_NON_ARCHITECTED


class Environment(enum.StrEnum):
    ON_PREM = "on_prem"
    AZURE = "azure"
    AWS = "aws"
    GCP = "gcp"
    ORACLE = "oracle"
    NONE = "none"


class Compliance(enum.StrEnum):
    GDPR = "gdpr"
    SOX = "sox"
    HIPAA = "hipaa"
    ISO_27001 = "iso_27001"
    OTHER = "other"


LICENSE_TERMS = (1, 3, 5)


@dataclasses.dataclass(frozen=True)
class HoursRange:
    """Hours in hundredths of an hour (0.5 h = 50)."""

    min_hundredths: int
    max_hundredths: int


@dataclasses.dataclass(frozen=True)
class SelectedKpi:
    kpi_code: str
    complexity: Complexity
    tm_hours: HoursRange | None = None
    rbac_attributes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClientSpec:
    """What a caller sends to create or replace a client."""

    client_id: str
    name: str
    industry: str = ""
    description: str = ""
    selected_kpis: tuple[SelectedKpi, ...] = ()
    license_term_years: int = 0
    environment: Environment | None = None
    # The contract's DataRetentionPolicy in its JSON form; None for the default.
    retention_policy: JsonObject | None = None
    compliance: tuple[Compliance, ...] = ()
    other_compliance: str = ""
    time_zone: str = ""
    currency_code: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Client:
    spec: ClientSpec
    value_chain_codes: tuple[str, ...]
    version: int
    create_time: datetime.datetime
    update_time: datetime.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class CustomKpiSpec:
    code: str
    name: str
    formula: str
    base_kpi_code: str = ""
    description: str = ""
    unit: str = ""
    direction: Direction | None = None
    target: float | None = None
    thresholds: Thresholds = Thresholds()


@dataclasses.dataclass(frozen=True, kw_only=True)
class CustomKpi:
    """One version of a custom KPI, as stored: its spec with defaults applied."""

    client_id: str
    spec: CustomKpiSpec
    direction: Direction
    required_object_model_codes: tuple[str, ...]
    version: int
    create_time: datetime.datetime
    update_time: datetime.datetime


# -- data sources and field mappings -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SourceField:
    name: str
    type: FieldType | None


@dataclasses.dataclass(frozen=True)
class FieldMapping:
    target_field: str
    source_field: str = ""
    source_type: FieldType | None = None
    transform: str = ""
    # JSON text, e.g. '"open"' or '0'; empty for none.
    default_value: str = ""


class IssueKind(enum.StrEnum):
    UNKNOWN_TARGET_FIELD = "unknown_target_field"
    UNKNOWN_SOURCE_FIELD = "unknown_source_field"
    TYPE_MISMATCH = "type_mismatch"
    UNMAPPED_REQUIRED_FIELD = "unmapped_required_field"
    DUPLICATE_TARGET = "duplicate_target"
    INVALID_TRANSFORM = "invalid_transform"


@dataclasses.dataclass(frozen=True)
class MappingIssue:
    kind: IssueKind
    blocking: bool
    target_field: str
    source_field: str
    message: str


class MappingStatus(enum.StrEnum):
    VALID = "valid"
    INCOMPLETE = "incomplete"
    INVALID = "invalid"


@dataclasses.dataclass(frozen=True)
class MappingReport:
    status: MappingStatus
    issues: tuple[MappingIssue, ...]
    unmapped_required_fields: tuple[str, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSourceSpec:
    """What a caller sends to create or replace a data source. `credentials` empty on update
    keeps the stored ones; `clear_credentials` removes them."""

    object_model_code: str
    integration_type: IntegrationType
    source_system: str = ""
    connection_settings: JsonObject = dataclasses.field(default_factory=dict)
    credentials: Credentials = dataclasses.field(default_factory=Credentials)
    clear_credentials: bool = False
    source_fields: tuple[SourceField, ...] = ()
    field_mappings: tuple[FieldMapping, ...] = ()
    tm_hours: HoursRange | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSource:
    """A stored data source as any read shows it: credential names, never their values."""

    data_source_id: str
    client_id: str
    object_model_code: str
    integration_type: IntegrationType
    source_system: str
    connection_settings: JsonObject
    credential_names: tuple[str, ...]
    source_fields: tuple[SourceField, ...]
    field_mappings: tuple[FieldMapping, ...]
    mapping: MappingReport
    tm_hours: HoursRange | None
    version: int
    create_time: datetime.datetime
    update_time: datetime.datetime
