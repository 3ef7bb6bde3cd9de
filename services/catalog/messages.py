"""Translation from catalog domain values to protobuf messages (and nothing else)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TypeVar

from analytics.catalog.v1 import catalog_pb2
from analytics.type.v1 import types_pb2
from google.protobuf import struct_pb2, timestamp_pb2

from services.catalog import domain

_FIELD_TYPES = {
    domain.FieldType.STRING: catalog_pb2.FIELD_TYPE_STRING,
    domain.FieldType.INTEGER: catalog_pb2.FIELD_TYPE_INTEGER,
    domain.FieldType.DECIMAL: catalog_pb2.FIELD_TYPE_DECIMAL,
    domain.FieldType.BOOLEAN: catalog_pb2.FIELD_TYPE_BOOLEAN,
    domain.FieldType.TIMESTAMP: catalog_pb2.FIELD_TYPE_TIMESTAMP,
    domain.FieldType.DATE: catalog_pb2.FIELD_TYPE_DATE,
}
_CARDINALITIES = {
    domain.Cardinality.MANY_TO_ONE: catalog_pb2.CARDINALITY_MANY_TO_ONE,
    domain.Cardinality.ONE_TO_MANY: catalog_pb2.CARDINALITY_ONE_TO_MANY,
    domain.Cardinality.ONE_TO_ONE: catalog_pb2.CARDINALITY_ONE_TO_ONE,
}
_DIRECTIONS = {
    domain.Direction.HIGHER_IS_BETTER: types_pb2.DIRECTION_HIGHER_IS_BETTER,
    domain.Direction.LOWER_IS_BETTER: types_pb2.DIRECTION_LOWER_IS_BETTER,
    domain.Direction.TARGET_IS_BEST: types_pb2.DIRECTION_TARGET_IS_BEST,
}
_PERIODS = {
    domain.Period.MINUTE: types_pb2.PERIOD_MINUTE,
    domain.Period.HOUR: types_pb2.PERIOD_HOUR,
    domain.Period.DAY: types_pb2.PERIOD_DAY,
    domain.Period.WEEK: types_pb2.PERIOD_WEEK,
    domain.Period.MONTH: types_pb2.PERIOD_MONTH,
}


def timestamp(moment: datetime.datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment.astimezone(datetime.UTC))
    return message


def value_chain(chain: domain.ValueChain) -> catalog_pb2.ValueChain:
    return catalog_pb2.ValueChain(
        code=chain.code,
        name=chain.name,
        description=chain.description,
        module_codes=chain.module_codes,
        kpi_count=chain.kpi_count,
    )


def module(item: domain.Module) -> catalog_pb2.Module:
    return catalog_pb2.Module(
        code=item.code,
        name=item.name,
        description=item.description,
        value_chain_code=item.value_chain_code,
        kpi_count=item.kpi_count,
    )


def direction(value: domain.Direction) -> types_pb2.Direction.ValueType:
    return _DIRECTIONS[value]


def _field(field: domain.Field) -> catalog_pb2.Field:
    return catalog_pb2.Field(
        name=field.name,
        type=_FIELD_TYPES[field.type],
        description=field.description,
        required=field.required,
        key=field.key,
        allowed_values=field.allowed_values,
        unit=field.unit,
    )


def object_model(model: domain.ObjectModel) -> catalog_pb2.ObjectModel:
    return catalog_pb2.ObjectModel(
        code=model.code,
        name=model.name,
        description=model.description,
        schema_name=model.schema_name,
        table_name=model.table_name,
        time_field=model.time_field,
        fields=[_field(f) for f in model.fields],
        relationships=[
            catalog_pb2.Relationship(
                name=r.name,
                target_object_model_code=r.target_object_model_code,
                cardinality=_CARDINALITIES[r.cardinality],
                source_field=r.source_field,
                target_field=r.target_field,
                description=r.description,
                target_time_window=_time_window(r.target_time_window),
                carried_fields=[_field(f) for f in r.carried_fields],
            )
            for r in model.relationships
        ],
        value_chain_codes=model.value_chain_codes,
        derived_fields=[
            catalog_pb2.DerivedField(
                name=d.name,
                description=d.description,
                expression=d.expression,
                left_field=d.left_field,
                comparator=d.comparator.value,
                right_field=d.right_field,
            )
            for d in model.derived_fields
        ],
        derived_durations=[
            catalog_pb2.DerivedDuration(
                name=d.name,
                description=d.description,
                expression=d.expression,
                start_field=d.start_field,
                end_field=d.end_field,
                weight_field=d.weight_field,
            )
            for d in model.derived_durations
        ],
    )


def kpi(definition: domain.KpiDefinition) -> catalog_pb2.KpiDefinition:
    message = catalog_pb2.KpiDefinition(
        code=definition.code,
        name=definition.name,
        description=definition.description,
        value_chain_code=definition.value_chain_code,
        module_code=definition.module_code,
        unit=definition.unit,
        direction=_DIRECTIONS[definition.direction],
        thresholds=catalog_pb2.Thresholds(
            warning=definition.thresholds.warning, critical=definition.thresholds.critical
        ),
        required_object_model_codes=definition.required_object_model_codes,
        formula=definition.formula,
        component_kpi_codes=definition.component_kpi_codes,
        catalog_version=definition.catalog_version,
        tags=definition.tags,
    )
    if definition.target is not None:
        message.target = definition.target
    if definition.row_access:
        message.row_access.CopyFrom(row_access(definition.row_access))
    return message


_ROW_ACCESS_KINDS = {
    domain.RowAccessKind.NONE: catalog_pb2.ROW_ACCESS_KIND_UNSPECIFIED,
    domain.RowAccessKind.RBAC: catalog_pb2.ROW_ACCESS_KIND_RBAC,
    domain.RowAccessKind.DYNAMIC_RBAC: catalog_pb2.ROW_ACCESS_KIND_DYNAMIC_RBAC,
}


def row_access(rules: tuple[domain.RowAccessRule, ...]) -> catalog_pb2.KpiRowAccess:
    return catalog_pb2.KpiRowAccess(
        kind=_ROW_ACCESS_KINDS[domain.row_access_kind(rules)],
        rules=[
            catalog_pb2.RowAccessRule(
                object_model_code=rule.object_model_code,
                field=rule.field,
                claim=rule.claim,
                hierarchy_object_model_code=rule.hierarchy_object_model_code,
                hierarchy_parent_relationship=rule.hierarchy_parent_relationship,
            )
            for rule in rules
        ],
    )


def row_access_from_proto(message: catalog_pb2.KpiRowAccess) -> tuple[domain.RowAccessRule, ...]:
    return tuple(
        domain.RowAccessRule(
            object_model_code=rule.object_model_code,
            field=rule.field,
            claim=rule.claim,
            hierarchy_object_model_code=rule.hierarchy_object_model_code,
            hierarchy_parent_relationship=rule.hierarchy_parent_relationship,
        )
        for rule in message.rules
    )


def kpi_sample(sample: domain.KpiSample) -> catalog_pb2.GetKpiSampleResponse:
    return catalog_pb2.GetKpiSampleResponse(
        kpi_code=sample.kpi_code,
        period=_PERIODS[sample.period],
        points=[
            catalog_pb2.KpiSamplePoint(bucket_start=timestamp(p.bucket_start), value=p.value)
            for p in sample.points
        ],
    )


def object_model_sample(
    sample: domain.ObjectModelSample,
) -> catalog_pb2.GetObjectModelSampleResponse:
    rows = []
    for row in sample.rows:
        struct = struct_pb2.Struct()
        struct.update(dict(row))
        rows.append(struct)
    return catalog_pb2.GetObjectModelSampleResponse(
        object_model_code=sample.object_model_code, rows=rows
    )


# -- from protobuf, for services that read the catalog over gRPC ----------------------------


K = TypeVar("K")
V = TypeVar("V")


def _inverse(mapping: Mapping[K, V]) -> dict[V, K]:
    return {number: value for value, number in mapping.items()}


_FIELD_TYPES_BACK = _inverse(_FIELD_TYPES)
_CARDINALITIES_BACK = _inverse(_CARDINALITIES)
_DIRECTIONS_BACK = _inverse(_DIRECTIONS)


def _field_from_proto(message: catalog_pb2.Field) -> domain.Field:
    return domain.Field(
        name=message.name,
        type=_FIELD_TYPES_BACK[message.type],
        description=message.description,
        required=message.required,
        key=message.key,
        allowed_values=tuple(message.allowed_values),
        unit=message.unit,
    )


def object_model_from_proto(message: catalog_pb2.ObjectModel) -> domain.ObjectModel:
    return domain.ObjectModel(
        code=message.code,
        name=message.name,
        description=message.description,
        schema_name=message.schema_name,
        table_name=message.table_name,
        time_field=message.time_field,
        fields=tuple(_field_from_proto(f) for f in message.fields),
        relationships=tuple(
            domain.Relationship(
                name=r.name,
                target_object_model_code=r.target_object_model_code,
                cardinality=_CARDINALITIES_BACK[r.cardinality],
                source_field=r.source_field,
                target_field=r.target_field,
                description=r.description,
                target_time_window=(
                    domain.TimeWindow(
                        r.target_time_window.days_before, r.target_time_window.days_after
                    )
                    if r.HasField("target_time_window")
                    else None
                ),
                carried_fields=tuple(_field_from_proto(f) for f in r.carried_fields),
            )
            for r in message.relationships
        ),
        value_chain_codes=tuple(message.value_chain_codes),
        derived_fields=tuple(
            domain.DerivedField(
                name=d.name,
                description=d.description,
                left_field=d.left_field,
                comparator=domain.Comparator(d.comparator),
                right_field=d.right_field,
            )
            for d in message.derived_fields
        ),
        derived_durations=tuple(
            domain.DerivedDuration(
                name=d.name,
                description=d.description,
                start_field=d.start_field,
                end_field=d.end_field,
                weight_field=d.weight_field,
            )
            for d in message.derived_durations
        ),
    )


def kpi_from_proto(message: catalog_pb2.KpiDefinition) -> domain.KpiDefinition:
    thresholds = message.thresholds
    return domain.KpiDefinition(
        code=message.code,
        name=message.name,
        description=message.description,
        value_chain_code=message.value_chain_code,
        module_code=message.module_code,
        unit=message.unit,
        direction=_DIRECTIONS_BACK[message.direction],
        target=message.target if message.HasField("target") else None,
        thresholds=domain.Thresholds(
            warning=thresholds.warning if thresholds.HasField("warning") else None,
            critical=thresholds.critical if thresholds.HasField("critical") else None,
        ),
        required_object_model_codes=tuple(message.required_object_model_codes),
        formula=message.formula,
        component_kpi_codes=tuple(message.component_kpi_codes),
        tags=tuple(message.tags),
        catalog_version=message.catalog_version,
        row_access=row_access_from_proto(message.row_access),
    )


def _time_window(window: domain.TimeWindow | None) -> catalog_pb2.TimeWindow | None:
    if window is None:
        return None
    return catalog_pb2.TimeWindow(days_before=window.days_before, days_after=window.days_after)
