"""The catalog's domain: what can be measured and what data it is measured from.

Plain frozen values, shared by the file loader, the repository and the servicer. Nothing here
knows about gRPC, SQL or YAML.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Mapping

# A value of an object model sample row, as JSON can carry it. Timestamps and dates are ISO 8601
# strings; decimals are numbers.
SampleValue = str | int | float | bool | None


class FieldType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DATE = "date"

    @property
    def is_numeric(self) -> bool:
        return self in (FieldType.INTEGER, FieldType.DECIMAL)

    @property
    def is_temporal(self) -> bool:
        return self in (FieldType.TIMESTAMP, FieldType.DATE)


class Cardinality(enum.StrEnum):
    """Seen from the object model that declares the relationship."""

    MANY_TO_ONE = "many_to_one"
    ONE_TO_MANY = "one_to_many"
    ONE_TO_ONE = "one_to_one"


class Direction(enum.StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"
    # Closer to the target is better; thresholds are then distances from the target.
    TARGET_IS_BEST = "target_is_best"


class Period(enum.StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclasses.dataclass(frozen=True)
class ValueChain:
    code: str
    name: str
    description: str
    module_codes: tuple[str, ...]
    kpi_count: int


@dataclasses.dataclass(frozen=True)
class Module:
    code: str
    name: str
    description: str
    value_chain_code: str
    kpi_count: int


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    description: str
    required: bool = False
    key: bool = False
    # Empty when any value is allowed.
    allowed_values: tuple[str, ...] = ()
    # Empty when unitless.
    unit: str = ""


class Comparator(enum.StrEnum):
    """How a derived field compares its two fields; the values are the formula's operators."""

    EQ = "="
    NE = "<>"
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="

    @property
    def mirrored(self) -> Comparator:
        """The operator that says the same with its operands swapped (a <= b is b >= a)."""
        return _MIRRORED[self]


_MIRRORED = {
    Comparator.EQ: Comparator.EQ,
    Comparator.NE: Comparator.NE,
    Comparator.LT: Comparator.GT,
    Comparator.LE: Comparator.GE,
    Comparator.GT: Comparator.LT,
    Comparator.GE: Comparator.LE,
}


@dataclasses.dataclass(frozen=True)
class DerivedField:
    """A boolean the platform derives from two fields of the same row, e.g.
    `delivered_on_time := delivered_at <= promised_at`. Clients never send it; storage keeps it
    next to the row (absent when either field is absent, as the comparison itself is), so a
    comparison of two fields that a per-row summary cannot answer becomes a value it can group
    by."""

    name: str
    description: str
    left_field: str
    comparator: Comparator
    right_field: str

    @property
    def expression(self) -> str:
        return f"{self.left_field} {self.comparator.value} {self.right_field}"

    def defines(self, left_field: str, comparator: Comparator, right_field: str) -> bool:
        """Whether `left_field comparator right_field` is this field's comparison, as written
        or mirrored (`promised_at >= delivered_at` for `delivered_at <= promised_at`)."""
        written = (self.left_field, self.comparator, self.right_field)
        return (left_field, comparator, right_field) in (
            written,
            (self.right_field, self.comparator.mirrored, self.left_field),
        )


@dataclasses.dataclass(frozen=True)
class DerivedDuration:
    """The seconds from one time field of a row to another, e.g. `fulfillment_seconds := seconds
    from created_at to delivered_at`. Clients never send it; storage keeps it next to the row
    (absent when either field is, as the duration itself is), and the rollups keep its sum and
    how many rows had it, so the average or total of that duration (`avg(duration_days(created_at,
    delivered_at))`) is answered from sums per minute or hour instead of every row."""

    name: str
    description: str
    start_field: str
    end_field: str
    # A numeric field the seconds are multiplied by (the amount of a payment, for the days to
    # collect weighted by amount), or "" for the plain duration.
    weight_field: str = ""

    @property
    def expression(self) -> str:
        seconds = f"seconds({self.start_field}, {self.end_field})"
        return f"{self.weight_field} * {seconds}" if self.weight_field else seconds


@dataclasses.dataclass(frozen=True)
class Relationship:
    name: str
    target_object_model_code: str
    cardinality: Cardinality
    source_field: str
    target_field: str
    description: str
    # Where the related row usually sits in time, seen from this row: a search hint for reads of
    # recent rows (see TimeWindow); None when there is no usual place (e.g. master data).
    target_time_window: TimeWindow | None = None
    # Fields of the related row (many-to-one only) that each row keeps a copy of, kept current
    # by ingest on both sides, so filters and breakdowns on them need no join and, for the
    # rollups' kinds of fields, are answered from sums (see carried_column).
    carried_fields: tuple[Field, ...] = ()

    def carried(self, field_name: str) -> Field | None:
        return next((field for field in self.carried_fields if field.name == field_name), None)


def carried_column(relationship: Relationship, field: Field) -> str:
    """The column holding a row's copy of its related row's field, e.g. `order__status`."""
    return f"{relationship.name}__{field.name}"


def operand_column(operand: str) -> str:
    """The column holding an operand of a derived field or duration: a field of the row
    (`value_date`), or the row's copy of a related row's field, written `invoice.due_date` and
    stored as `invoice__due_date` (see carried_column)."""
    return operand.replace(".", "__")


@dataclasses.dataclass(frozen=True)
class TimeWindow:
    """The related row's time usually lies within [this row's time - days_before, this row's
    time + days_after] (an order line's order was entered with it; a payment's invoice was issued
    up to a few months before). Only a hint for finding it: a related row outside the window is
    still found, just less cheaply."""

    days_before: int
    days_after: int


@dataclasses.dataclass(frozen=True)
class ObjectModel:
    code: str
    name: str
    description: str
    schema_name: str
    table_name: str
    time_field: str
    fields: tuple[Field, ...]
    relationships: tuple[Relationship, ...]
    value_chain_codes: tuple[str, ...]
    # Booleans derived from the fields above; not among `fields`, which are what clients send.
    derived_fields: tuple[DerivedField, ...] = ()
    # Durations between two time fields of a row, stored in seconds (see DerivedDuration).
    derived_durations: tuple[DerivedDuration, ...] = ()

    def field(self, name: str) -> Field | None:
        return next((field for field in self.fields if field.name == name), None)

    def derived_field(self, name: str) -> DerivedField | None:
        return next((derived for derived in self.derived_fields if derived.name == name), None)

    def derived_field_for(
        self, left_field: str, comparator: Comparator, right_field: str
    ) -> DerivedField | None:
        """The derived field that holds `left_field comparator right_field`, if one does."""
        return next(
            (d for d in self.derived_fields if d.defines(left_field, comparator, right_field)),
            None,
        )

    def derived_duration_for(
        self, start_field: str, end_field: str, weight_field: str = ""
    ) -> DerivedDuration | None:
        """The derived duration from `start_field` to `end_field` (multiplied by `weight_field`
        when one is named), if one is declared."""
        return next(
            (
                d
                for d in self.derived_durations
                if (d.start_field, d.end_field, d.weight_field)
                == (start_field, end_field, weight_field)
            ),
            None,
        )

    def operand(self, name: str) -> Field | None:
        """What a derived field or duration may read: a field of the row (`value_date`), or a
        related row's field the row carries a copy of (`invoice.due_date`)."""
        relationship_name, dot, field_name = name.partition(".")
        if not dot:
            return self.field(name)
        relationship = self.relationship(relationship_name)
        return relationship.carried(field_name) if relationship is not None else None

    def relationship(self, name: str) -> Relationship | None:
        return next((rel for rel in self.relationships if rel.name == name), None)


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """For higher/lower-is-better KPIs, the values at which the KPI turns warning and critical;
    for target-is-best KPIs, the distances from the target at which it does."""

    warning: float | None = None
    critical: float | None = None


@dataclasses.dataclass(frozen=True)
class RowAccessRule:
    """Rows of `object_model_code` a restricted caller sees: those whose `field` (a path through
    many-to-one relationships, e.g. "owner.region") equals the caller's `claim` (RBAC), or, with
    a hierarchy, holds a node at or below the node the claim names (Dynamic RBAC)."""

    object_model_code: str
    field: str
    claim: str
    # Object model of the hierarchy's nodes and its node-to-parent relationship (e.g. SALES_REP
    # and "manager"); both empty for a plain RBAC rule.
    hierarchy_object_model_code: str = ""
    hierarchy_parent_relationship: str = ""

    @property
    def follows_hierarchy(self) -> bool:
        return bool(self.hierarchy_object_model_code)


class RowAccessKind(enum.StrEnum):
    """The implementation complexity of a KPI's row security, as pricing names it."""

    NONE = "none"
    RBAC = "rbac"
    DYNAMIC_RBAC = "dynamic_rbac"


def row_access_kind(rules: tuple[RowAccessRule, ...]) -> RowAccessKind:
    if any(rule.follows_hierarchy for rule in rules):
        return RowAccessKind.DYNAMIC_RBAC
    return RowAccessKind.RBAC if rules else RowAccessKind.NONE


@dataclasses.dataclass(frozen=True)
class KpiDefinition:
    code: str
    name: str
    description: str
    value_chain_code: str
    module_code: str
    unit: str
    direction: Direction
    target: float | None
    thresholds: Thresholds
    required_object_model_codes: tuple[str, ...]
    formula: str
    component_kpi_codes: tuple[str, ...]
    tags: tuple[str, ...]
    catalog_version: str
    # Row security; empty for a KPI every caller of the client sees alike.
    row_access: tuple[RowAccessRule, ...] = ()

    @property
    def row_access_kind(self) -> RowAccessKind:
        return row_access_kind(self.row_access)


@dataclasses.dataclass(frozen=True)
class KpiSamplePoint:
    bucket_start: datetime.datetime
    value: float


@dataclasses.dataclass(frozen=True)
class KpiSample:
    kpi_code: str
    period: Period
    points: tuple[KpiSamplePoint, ...]


@dataclasses.dataclass(frozen=True)
class ObjectModelSample:
    object_model_code: str
    rows: tuple[Mapping[str, SampleValue], ...]


@dataclasses.dataclass(frozen=True)
class CatalogVersion:
    version: str
    content_hash: str
    loaded_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class Catalog:
    """A whole catalog as read from the data files, in declaration order."""

    version: str
    content_hash: str
    value_chains: tuple[ValueChain, ...]
    modules: tuple[Module, ...]
    object_models: tuple[ObjectModel, ...]
    kpis: tuple[KpiDefinition, ...]
    kpi_samples: tuple[KpiSample, ...]
    object_model_samples: tuple[ObjectModelSample, ...]

    def kpi(self, code: str) -> KpiDefinition | None:
        return next((kpi for kpi in self.kpis if kpi.code == code), None)

    def object_model(self, code: str) -> ObjectModel | None:
        return next((model for model in self.object_models if model.code == code), None)
