"""Translation between the contract's messages and client-configuration values (and nothing
else). Etags are the stored version in an opaque wrapper; a read never carries credentials."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from analytics.catalog.v1 import catalog_pb2
from analytics.config.v1 import config_pb2
from analytics.type.v1 import types_pb2
from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.catalog import messages as catalog_messages
from services.catalog.domain import Direction, FieldType, Thresholds
from services.config.clients.model import (
    LARGEST_VERSION,
    Client,
    ClientSpec,
    Complexity,
    Compliance,
    CustomKpi,
    CustomKpiSpec,
    DataSource,
    DataSourceSpec,
    Environment,
    FieldMapping,
    HoursRange,
    IntegrationType,
    IssueKind,
    MappingIssue,
    MappingReport,
    MappingStatus,
    SelectedKpi,
    SourceField,
)
from services.errors import InvalidArgument
from services.security.secrets import Credentials

K = TypeVar("K")
V = TypeVar("V")


def _inverse(mapping: Mapping[K, V]) -> dict[V, K]:
    return {value: key for key, value in mapping.items()}


COMPLEXITIES = {
    Complexity.OTB: config_pb2.IMPLEMENTATION_COMPLEXITY_OTB,
    Complexity.CUSTOM_BASIC: config_pb2.IMPLEMENTATION_COMPLEXITY_CUSTOM_BASIC,
    Complexity.RBAC: config_pb2.IMPLEMENTATION_COMPLEXITY_RBAC,
    Complexity.DYNAMIC_RBAC: config_pb2.IMPLEMENTATION_COMPLEXITY_DYNAMIC_RBAC,
}
INTEGRATION_TYPES = {
    IntegrationType.BATCH_CONFORMED: config_pb2.INTEGRATION_TYPE_BATCH_CONFORMED,
    IntegrationType.BATCH_NON_CONFORMED_SINGLE_SOURCE:
        config_pb2.INTEGRATION_TYPE_BATCH_NON_CONFORMED_SINGLE_SOURCE,
    IntegrationType.BATCH_NON_CONFORMED_MULTI_SOURCE:
        config_pb2.INTEGRATION_TYPE_BATCH_NON_CONFORMED_MULTI_SOURCE,
    IntegrationType.BATCH_ENTITY_RESOLUTION: config_pb2.INTEGRATION_TYPE_BATCH_ENTITY_RESOLUTION,
    IntegrationType.STREAMING_API_ARCHITECTED:
        config_pb2.INTEGRATION_TYPE_STREAMING_API_ARCHITECTED,
    IntegrationType.STREAMING_API_NON_ARCHITECTED:
        config_pb2.INTEGRATION_TYPE_STREAMING_API_NON_ARCHITECTED,
}
ENVIRONMENTS = {
    Environment.ON_PREM: config_pb2.ENVIRONMENT_ON_PREM,
    Environment.AZURE: config_pb2.ENVIRONMENT_AZURE,
    Environment.AWS: config_pb2.ENVIRONMENT_AWS,
    Environment.GCP: config_pb2.ENVIRONMENT_GCP,
    Environment.ORACLE: config_pb2.ENVIRONMENT_ORACLE,
    Environment.NONE: config_pb2.ENVIRONMENT_NONE,
}
COMPLIANCE = {
    Compliance.GDPR: config_pb2.COMPLIANCE_REQUIREMENT_GDPR,
    Compliance.SOX: config_pb2.COMPLIANCE_REQUIREMENT_SOX,
    Compliance.HIPAA: config_pb2.COMPLIANCE_REQUIREMENT_HIPAA,
    Compliance.ISO_27001: config_pb2.COMPLIANCE_REQUIREMENT_ISO_27001,
    Compliance.OTHER: config_pb2.COMPLIANCE_REQUIREMENT_OTHER,
}
ISSUE_KINDS = {
    IssueKind.UNKNOWN_TARGET_FIELD: config_pb2.MAPPING_ISSUE_KIND_UNKNOWN_TARGET_FIELD,
    IssueKind.UNKNOWN_SOURCE_FIELD: config_pb2.MAPPING_ISSUE_KIND_UNKNOWN_SOURCE_FIELD,
    IssueKind.TYPE_MISMATCH: config_pb2.MAPPING_ISSUE_KIND_TYPE_MISMATCH,
    IssueKind.UNMAPPED_REQUIRED_FIELD: config_pb2.MAPPING_ISSUE_KIND_UNMAPPED_REQUIRED_FIELD,
    IssueKind.DUPLICATE_TARGET: config_pb2.MAPPING_ISSUE_KIND_DUPLICATE_TARGET,
    IssueKind.INVALID_TRANSFORM: config_pb2.MAPPING_ISSUE_KIND_INVALID_TRANSFORM,
}
MAPPING_STATUSES = {
    MappingStatus.VALID: config_pb2.MAPPING_STATUS_VALID,
    MappingStatus.INCOMPLETE: config_pb2.MAPPING_STATUS_INCOMPLETE,
    MappingStatus.INVALID: config_pb2.MAPPING_STATUS_INVALID,
}
FIELD_TYPES = {
    FieldType.STRING: catalog_pb2.FIELD_TYPE_STRING,
    FieldType.INTEGER: catalog_pb2.FIELD_TYPE_INTEGER,
    FieldType.DECIMAL: catalog_pb2.FIELD_TYPE_DECIMAL,
    FieldType.BOOLEAN: catalog_pb2.FIELD_TYPE_BOOLEAN,
    FieldType.TIMESTAMP: catalog_pb2.FIELD_TYPE_TIMESTAMP,
    FieldType.DATE: catalog_pb2.FIELD_TYPE_DATE,
}
DIRECTIONS = {
    Direction.HIGHER_IS_BETTER: types_pb2.DIRECTION_HIGHER_IS_BETTER,
    Direction.LOWER_IS_BETTER: types_pb2.DIRECTION_LOWER_IS_BETTER,
    Direction.TARGET_IS_BEST: types_pb2.DIRECTION_TARGET_IS_BEST,
}
_COMPLEXITIES_BACK = _inverse(COMPLEXITIES)
_INTEGRATION_TYPES_BACK = _inverse(INTEGRATION_TYPES)
_ENVIRONMENTS_BACK = _inverse(ENVIRONMENTS)
_COMPLIANCE_BACK = _inverse(COMPLIANCE)
_FIELD_TYPES_BACK = _inverse(FIELD_TYPES)
_DIRECTIONS_BACK = _inverse(DIRECTIONS)

_ETAG = re.compile(r'^"?v([1-9][0-9]{0,17})"?$')


def etag(version: int) -> str:
    return f"v{version}"


def etag_version(value: str, field: str, *, required: bool = True) -> int | None:
    """The version an etag stands for; None when it is empty and not required."""
    if not value.strip():
        if required:
            raise InvalidArgument.for_field(
                field, "is required: send the etag of the version you read, so a concurrent "
                       "change is not overwritten")
        return None
    match = _ETAG.match(value.strip())
    if match is None or int(match.group(1)) > LARGEST_VERSION:
        raise InvalidArgument.for_field(field, f"{value!r} is not an etag this service issued")
    return int(match.group(1))


def _known(value: int, table: Mapping[Any, K], field: str) -> K:
    try:
        return table[value]
    except KeyError:
        raise InvalidArgument.for_field(field, f"unknown value {value}") from None


def _hours(message: config_pb2.HoursRange) -> HoursRange:
    return HoursRange(message.min_hours_hundredths, message.max_hours_hundredths)


def _hours_message(hours: HoursRange | None) -> config_pb2.HoursRange | None:
    if hours is None:
        return None
    return config_pb2.HoursRange(min_hours_hundredths=hours.min_hundredths,
                                 max_hours_hundredths=hours.max_hundredths)


# -- clients ---------------------------------------------------------------------------------


def client_spec(message: config_pb2.Client, prefix: str = "client") -> ClientSpec:
    selected = []
    for index, item in enumerate(message.selected_kpis):
        field = f"{prefix}.selected_kpis[{index}]"
        if item.complexity == config_pb2.IMPLEMENTATION_COMPLEXITY_UNSPECIFIED:
            raise InvalidArgument.for_field(
                f"{field}.complexity", "is required: OTB, CUSTOM_BASIC, RBAC or DYNAMIC_RBAC")
        selected.append(SelectedKpi(
            kpi_code=item.kpi_code.strip().upper(),
            complexity=_known(item.complexity, _COMPLEXITIES_BACK, f"{field}.complexity"),
            tm_hours=_hours(item.tm_hours) if item.HasField("tm_hours") else None,
            rbac_attributes=tuple(a.strip() for a in item.rbac_attributes if a.strip()),
        ))
    environment = (None if message.environment == config_pb2.ENVIRONMENT_UNSPECIFIED
                   else _known(message.environment, _ENVIRONMENTS_BACK, f"{prefix}.environment"))
    return ClientSpec(
        client_id=message.client_id.strip(),
        name=message.name.strip(),
        industry=message.industry.strip(),
        description=message.description,
        selected_kpis=tuple(selected),
        license_term_years=message.license_term_years,
        environment=environment,
        retention_policy=(json_format.MessageToDict(message.retention_policy,
                                                    preserving_proto_field_name=True)
                          if message.HasField("retention_policy") else None),
        compliance=tuple(dict.fromkeys(
            _known(c, _COMPLIANCE_BACK, f"{prefix}.compliance_requirements")
            for c in message.compliance_requirements
            if c != config_pb2.COMPLIANCE_REQUIREMENT_UNSPECIFIED)),
        other_compliance=message.other_compliance.strip(),
        time_zone=message.time_zone.strip(),
        currency_code=message.currency_code.strip().upper(),
    )


def client(value: Client) -> config_pb2.Client:
    spec = value.spec
    message = config_pb2.Client(
        client_id=spec.client_id,
        name=spec.name,
        industry=spec.industry,
        description=spec.description,
        selected_kpis=[
            config_pb2.SelectedKpi(kpi_code=s.kpi_code, complexity=COMPLEXITIES[s.complexity],
                                   tm_hours=_hours_message(s.tm_hours),
                                   rbac_attributes=s.rbac_attributes)
            for s in spec.selected_kpis
        ],
        value_chain_codes=value.value_chain_codes,
        license_term_years=spec.license_term_years,
        environment=(ENVIRONMENTS[spec.environment] if spec.environment
                     else config_pb2.ENVIRONMENT_UNSPECIFIED),
        compliance_requirements=[COMPLIANCE[c] for c in spec.compliance],
        other_compliance=spec.other_compliance,
        time_zone=spec.time_zone,
        currency_code=spec.currency_code,
        version=value.version,
        etag=etag(value.version),
        create_time=catalog_messages.timestamp(value.create_time),
        update_time=catalog_messages.timestamp(value.update_time),
    )
    if spec.retention_policy is not None:
        json_format.ParseDict(dict(spec.retention_policy), message.retention_policy,
                              ignore_unknown_fields=True)
    return message


# -- custom KPIs -----------------------------------------------------------------------------


def custom_kpi_spec(message: config_pb2.CustomKpi, prefix: str = "custom_kpi") -> CustomKpiSpec:
    thresholds = message.thresholds
    return CustomKpiSpec(
        code=message.code.strip().upper(),
        name=message.name.strip(),
        formula=message.formula,
        base_kpi_code=message.base_kpi_code.strip().upper(),
        description=message.description,
        unit=message.unit.strip(),
        direction=(None if message.direction == types_pb2.DIRECTION_UNSPECIFIED
                   else _known(message.direction, _DIRECTIONS_BACK, f"{prefix}.direction")),
        target=message.target if message.HasField("target") else None,
        thresholds=Thresholds(
            warning=thresholds.warning if thresholds.HasField("warning") else None,
            critical=thresholds.critical if thresholds.HasField("critical") else None,
        ),
    )


def custom_kpi(value: CustomKpi) -> config_pb2.CustomKpi:
    spec = value.spec
    message = config_pb2.CustomKpi(
        code=spec.code,
        client_id=value.client_id,
        base_kpi_code=spec.base_kpi_code,
        name=spec.name,
        description=spec.description,
        unit=spec.unit,
        direction=DIRECTIONS[value.direction],
        thresholds=catalog_pb2.Thresholds(warning=spec.thresholds.warning,
                                          critical=spec.thresholds.critical),
        formula=spec.formula,
        required_object_model_codes=value.required_object_model_codes,
        version=value.version,
        etag=etag(value.version),
        create_time=catalog_messages.timestamp(value.create_time),
        update_time=catalog_messages.timestamp(value.update_time),
    )
    if spec.target is not None:
        message.target = spec.target
    return message


# -- data sources ----------------------------------------------------------------------------


def _field_type(value: int, field: str) -> FieldType | None:
    if value == catalog_pb2.FIELD_TYPE_UNSPECIFIED:
        return None
    return _known(value, _FIELD_TYPES_BACK, field)


def source_fields(items: Iterable[config_pb2.SourceField], prefix: str) -> tuple[SourceField, ...]:
    return tuple(
        SourceField(f.name.strip(), _field_type(f.type, f"{prefix}[{i}].type"))
        for i, f in enumerate(items)
    )


def field_mappings(
    items: Iterable[config_pb2.FieldMapping], prefix: str
) -> tuple[FieldMapping, ...]:
    return tuple(
        FieldMapping(
            target_field=m.target_field.strip(),
            source_field=m.source_field.strip(),
            source_type=_field_type(m.source_type, f"{prefix}[{i}].source_type"),
            transform=m.transform.strip(),
            default_value=m.default_value.strip(),
        )
        for i, m in enumerate(items)
    )


def data_source_spec(message: config_pb2.DataSource,
                     prefix: str = "data_source") -> DataSourceSpec:
    if message.integration_type == config_pb2.INTEGRATION_TYPE_UNSPECIFIED:
        raise InvalidArgument.for_field(
            f"{prefix}.integration_type",
            "is required: one of " + ", ".join(
                config_pb2.IntegrationType.Name(v) for v in INTEGRATION_TYPES.values()))
    return DataSourceSpec(
        object_model_code=message.object_model_code.strip().upper(),
        integration_type=_known(message.integration_type, _INTEGRATION_TYPES_BACK,
                                f"{prefix}.integration_type"),
        source_system=message.source_system.strip(),
        connection_settings=json_format.MessageToDict(message.connection_settings),
        credentials=Credentials(dict(message.credentials)),
        clear_credentials=message.clear_credentials,
        source_fields=source_fields(message.source_fields, f"{prefix}.source_fields"),
        field_mappings=field_mappings(message.field_mappings, f"{prefix}.field_mappings"),
        tm_hours=_hours(message.tm_hours) if message.HasField("tm_hours") else None,
    )


def mapping_issue(issue: MappingIssue) -> config_pb2.MappingIssue:
    return config_pb2.MappingIssue(kind=ISSUE_KINDS[issue.kind], blocking=issue.blocking,
                                   target_field=issue.target_field,
                                   source_field=issue.source_field, message=issue.message)


def mapping_report(report: MappingReport) -> config_pb2.ValidateFieldMappingsResponse:
    return config_pb2.ValidateFieldMappingsResponse(
        status=MAPPING_STATUSES[report.status],
        issues=[mapping_issue(i) for i in report.issues],
        unmapped_required_fields=report.unmapped_required_fields,
    )


def data_source(value: DataSource) -> config_pb2.DataSource:
    """A data source as every read shows it: whether credentials are set and their names, never
    their values."""
    settings = struct_pb2.Struct()
    settings.update(dict(value.connection_settings))
    return config_pb2.DataSource(
        data_source_id=value.data_source_id,
        client_id=value.client_id,
        object_model_code=value.object_model_code,
        source_system=value.source_system,
        integration_type=INTEGRATION_TYPES[value.integration_type],
        connection_settings=settings,
        credentials_set=bool(value.credential_names),
        credential_names=value.credential_names,
        source_fields=[
            config_pb2.SourceField(
                name=f.name,
                type=FIELD_TYPES[f.type] if f.type else catalog_pb2.FIELD_TYPE_UNSPECIFIED)
            for f in value.source_fields
        ],
        field_mappings=[
            config_pb2.FieldMapping(
                target_field=m.target_field, source_field=m.source_field,
                source_type=(FIELD_TYPES[m.source_type] if m.source_type
                             else catalog_pb2.FIELD_TYPE_UNSPECIFIED),
                transform=m.transform, default_value=m.default_value)
            for m in value.field_mappings
        ],
        mapping_status=MAPPING_STATUSES[value.mapping.status],
        mapping_issues=[mapping_issue(i) for i in value.mapping.issues],
        tm_hours=_hours_message(value.tm_hours),
        etag=etag(value.version),
        create_time=catalog_messages.timestamp(value.create_time),
        update_time=catalog_messages.timestamp(value.update_time),
    )


def nul_character_field(message: Message, prefix: str = "") -> str | None:
    """The first field (as a request path, e.g. `client.name`) whose text holds a NUL character,
    which PostgreSQL cannot store in text or JSON; None when there is none."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            items = list(value.items())
            value_field = entry.fields_by_name["value"]
            for key, item in items:
                if "\0" in str(key):
                    return path
                if value_field.type == FieldDescriptor.TYPE_STRING and "\0" in item:
                    return f"{path}.{key}"
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    found = nul_character_field(item, f"{path}.{key}.")
                    if found:
                        return found
            continue
        repeated = field.is_repeated
        values = list(value) if repeated else [value]
        for index, item in enumerate(values):
            where = f"{path}[{index}]" if repeated else path
            if field.type == FieldDescriptor.TYPE_STRING and "\0" in item:
                return where
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                found = nul_character_field(item, f"{where}.")
                if found:
                    return found
    return None
