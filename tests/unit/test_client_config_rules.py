"""The pure checks of client configuration: clients, field mappings, custom KPIs and the
required-objects analysis, against the shipped catalog."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from analytics.config.v1 import config_pb2

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Direction, FieldType
from services.config.clients.analysis import analyze
from services.config.clients.custom_kpis import check_custom_kpi, definition_of
from services.config.clients.data_sources import check_data_source
from services.config.clients.mappings import check_mappings
from services.config.clients.messages import nul_character_field
from services.config.clients.model import (
    ClientSpec,
    Complexity,
    Compliance,
    CustomKpiSpec,
    DataSourceSpec,
    FieldMapping,
    HoursRange,
    IntegrationType,
    IssueKind,
    MappingStatus,
    SelectedKpi,
    SourceField,
)
from services.config.clients.rules import check_client, value_chains
from services.errors import InvalidArgument
from services.security.secrets import Credentials

CATALOG = load_catalog_files()
MODELS = {model.code: model for model in CATALOG.object_models}
KPIS = {kpi.code: kpi for kpi in CATALOG.kpis}
ORDER = MODELS["ORDER"]


def _violations(error: InvalidArgument) -> dict[str, str]:
    return {v.field: v.description for v in error.violations}


# -- clients ---------------------------------------------------------------------------------


def _client(**changes: object) -> ClientSpec:
    base: dict[str, object] = {
        "client_id": "acme", "name": "Acme",
        "selected_kpis": (SelectedKpi("SCOR_POF", Complexity.OTB),),
        "license_term_years": 3,
    }
    return ClientSpec(**{**base, **changes})  # type: ignore[arg-type]


def test_a_sound_client_passes_and_implies_its_value_chains() -> None:
    spec = _client(selected_kpis=(SelectedKpi("SCOR_POF", Complexity.OTB),
                                  SelectedKpi("FIN_DSO", Complexity.RBAC, None, ("region",))))
    check_client(spec, KPIS, ())
    chains = value_chains([s.kpi_code for s in spec.selected_kpis], KPIS, {})
    assert chains == ("FINANCIAL", "SCOR")


def test_a_custom_variant_belongs_to_its_base_kpis_value_chain() -> None:
    assert value_chains(["ACME_POF", "ACME_NEW"], KPIS, {"ACME_POF": "SCOR_POF"}) == ("SCOR",)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"license_term_years": 2}, "client.license_term_years", "1, 3 or 5"),
        ({"selected_kpis": (SelectedKpi("SCOR_PFO", Complexity.OTB),)},
         "client.selected_kpis[0].kpi_code", "did you mean 'SCOR_POF'"),
        ({"selected_kpis": (SelectedKpi("SCOR_POF", Complexity.OTB),
                            SelectedKpi("SCOR_POF", Complexity.RBAC))},
         "client.selected_kpis[1].kpi_code", "twice"),
        ({"selected_kpis": (SelectedKpi("SCOR_POF", Complexity.OTB, HoursRange(100, 200)),)},
         "client.selected_kpis[0].tm_hours", "Dynamic RBAC"),
        ({"selected_kpis": (SelectedKpi("SCOR_POF", Complexity.DYNAMIC_RBAC,
                                        HoursRange(-5, 200)),)},
         "client.selected_kpis[0].tm_hours.min_hours_hundredths", "negative"),
        ({"client_id": "Acme Corp"}, "client.client_id", "lowercase"),
        ({"name": " "}, "client.name", "required"),
        ({"time_zone": "Mars/Olympus"}, "client.time_zone", "IANA"),
        ({"currency_code": "dollars"}, "client.currency_code", "ISO 4217"),
        ({"compliance": (Compliance.OTHER,)}, "client.other_compliance", "describe"),
    ],
)
def test_an_invalid_client_names_the_field(changes: dict[str, object], field: str,
                                           words: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_client(_client(**changes), KPIS, ())
    assert words in _violations(caught.value)[field]


def test_every_problem_of_a_client_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_client(_client(license_term_years=4, name="",
                             selected_kpis=(SelectedKpi("NOPE", Complexity.OTB),)), KPIS, ())
    assert set(_violations(caught.value)) == {
        "client.license_term_years", "client.name", "client.selected_kpis[0].kpi_code"}


def test_a_client_may_select_its_own_custom_kpis() -> None:
    check_client(_client(selected_kpis=(SelectedKpi("ACME_POF", Complexity.CUSTOM_BASIC),)),
                 KPIS, ["ACME_POF"])


# -- field mappings --------------------------------------------------------------------------


def _full_order_mapping() -> list[FieldMapping]:
    return [FieldMapping(f.name, f"src_{f.name}", f.type) for f in ORDER.fields if f.required]


def test_a_complete_mapping_is_valid() -> None:
    report = check_mappings(ORDER, _full_order_mapping())
    assert report.status is MappingStatus.VALID
    assert report.issues == () and report.unmapped_required_fields == ()


def test_a_mapping_without_a_required_field_is_incomplete() -> None:
    mappings = [m for m in _full_order_mapping() if m.target_field != "order_value"]
    report = check_mappings(ORDER, mappings)
    assert report.status is MappingStatus.INCOMPLETE
    assert report.unmapped_required_fields == ("order_value",)
    assert [i.kind for i in report.issues] == [IssueKind.UNMAPPED_REQUIRED_FIELD]
    assert not report.issues[0].blocking


@pytest.mark.parametrize(
    ("mapping", "kind", "words"),
    [
        (FieldMapping("order_valu", "NETWR", FieldType.DECIMAL), IssueKind.UNKNOWN_TARGET_FIELD,
         "did you mean 'order_value'"),
        (FieldMapping("order_value", "NETWR", FieldType.BOOLEAN), IssueKind.TYPE_MISMATCH,
         "order_value is DECIMAL; source NETWR is BOOLEAN"),
        (FieldMapping("created_at", "ERDAT", FieldType.DECIMAL), IssueKind.TYPE_MISMATCH,
         "does not convert"),
        (FieldMapping("order_value", "NETWR", FieldType.DECIMAL, "%d.%m"),
         IssueKind.INVALID_TRANSFORM, "unit factor"),
        (FieldMapping("status", "", None, "", '"lost"'), IssueKind.TYPE_MISMATCH,
         "not one of"),
        (FieldMapping("order_value", "", None, "", '"ten"'), IssueKind.TYPE_MISMATCH,
         "not a DECIMAL"),
        (FieldMapping("order_value", "", None, "", "ten"), IssueKind.TYPE_MISMATCH, "not JSON"),
        (FieldMapping("order_value"), IssueKind.UNKNOWN_SOURCE_FIELD, "no source field"),
    ],
)
def test_a_broken_mapping_is_invalid(mapping: FieldMapping, kind: IssueKind, words: str) -> None:
    others = [m for m in _full_order_mapping() if m.target_field != mapping.target_field]
    report = check_mappings(ORDER, [*others, mapping])
    assert report.status is MappingStatus.INVALID
    blocking = [i for i in report.issues if i.blocking]
    assert [i.kind for i in blocking] == [kind]
    assert words in blocking[0].message


def test_source_fields_are_checked_and_lend_their_types() -> None:
    offered = [SourceField("NETWR", FieldType.BOOLEAN), SourceField("KUNNR", FieldType.STRING)]
    mappings = [m for m in _full_order_mapping()
                if m.target_field not in ("order_value", "customer_id")]
    report = check_mappings(
        ORDER,
        [*mappings, FieldMapping("order_value", "NETWR"), FieldMapping("customer_id", "KUNR")],
        [*offered, *(SourceField(m.source_field, m.source_type) for m in mappings)])
    kinds = {(i.kind, i.target_field) for i in report.issues if i.blocking}
    assert (IssueKind.TYPE_MISMATCH, "order_value") in kinds
    assert (IssueKind.UNKNOWN_SOURCE_FIELD, "customer_id") in kinds


def test_a_duplicate_target_is_invalid() -> None:
    mappings = [*_full_order_mapping(), FieldMapping("region", "other_region", FieldType.STRING)]
    report = check_mappings(ORDER, mappings)
    assert [i.kind for i in report.issues] == [IssueKind.DUPLICATE_TARGET]
    assert report.status is MappingStatus.INVALID


def test_widening_and_text_targets_convert_and_text_sources_warn() -> None:
    mappings = [m for m in _full_order_mapping()
                if m.target_field not in ("order_value", "region", "created_at")]
    mappings += [FieldMapping("order_value", "NETWR", FieldType.INTEGER),
                 FieldMapping("region", "REGION_NO", FieldType.INTEGER),
                 FieldMapping("created_at", "ERDAT", FieldType.STRING)]
    report = check_mappings(ORDER, mappings)
    assert report.status is MappingStatus.VALID
    assert [(i.kind, i.blocking) for i in report.issues] == [(IssueKind.TYPE_MISMATCH, False)]


# -- custom KPIs -----------------------------------------------------------------------------


def test_a_custom_variant_takes_its_base_kpis_unit_and_direction() -> None:
    spec = CustomKpiSpec(code="ACME_POF", name="Perfect orders (web)", base_kpi_code="SCOR_POF",
                         formula="100 * count(ORDER where status = 'delivered' and channel = "
                                 "'web') / count(ORDER where status = 'delivered')")
    checked = check_custom_kpi(spec, MODELS, KPIS, {})
    assert checked.direction is Direction.HIGHER_IS_BETTER
    assert checked.unit == "%"
    assert checked.required_object_model_codes == ("ORDER",)


def test_a_custom_formula_error_names_the_formula_field_with_its_position() -> None:
    spec = CustomKpiSpec(code="ACME_X", name="X", formula="count(ORDER where delivery_at > 1)")
    with pytest.raises(InvalidArgument) as caught:
        check_custom_kpi(spec, MODELS, KPIS, {})
    described = _violations(caught.value)["custom_kpi.formula"]
    assert "line 1, column 19" in described and "delivery_at" in described


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (CustomKpiSpec(code="SCOR_POF", name="x", formula="count(ORDER)"), "custom_kpi.code"),
        (CustomKpiSpec(code="acme-1", name="x", formula="count(ORDER)"), "custom_kpi.code"),
        (CustomKpiSpec(code="ACME_A", name="", formula="count(ORDER)"), "custom_kpi.name"),
        (CustomKpiSpec(code="ACME_A", name="a", formula=" "), "custom_kpi.formula"),
        (CustomKpiSpec(code="ACME_A", name="a", formula="count(ORDER)", base_kpi_code="NOPE"),
         "custom_kpi.base_kpi_code"),
    ],
)
def test_an_invalid_custom_kpi_names_the_field(spec: CustomKpiSpec, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_custom_kpi(spec, MODELS, KPIS, {})
    assert field in _violations(caught.value)


def test_custom_kpis_may_refer_to_each_other_but_not_in_a_cycle() -> None:
    first = CustomKpiSpec(code="ACME_A", name="A", formula="kpi(ACME_B) + 1")
    second = definition_of(CustomKpiSpec(code="ACME_B", name="B", formula="count(ORDER)"),
                           "", Direction.HIGHER_IS_BETTER, ("ORDER",), 1)
    assert check_custom_kpi(first, MODELS, KPIS, {"ACME_B": second}) \
        .required_object_model_codes == ("ORDER",)
    looping = definition_of(CustomKpiSpec(code="ACME_B", name="B", formula="kpi(ACME_A) * 2"),
                            "", Direction.HIGHER_IS_BETTER, (), 1)
    with pytest.raises(InvalidArgument) as caught:
        check_custom_kpi(first, MODELS, KPIS, {"ACME_B": looping})
    assert "refers back to itself" in _violations(caught.value)["custom_kpi.formula"]


# -- required objects ------------------------------------------------------------------------


def test_required_objects_follow_kpi_references_and_value_chains() -> None:
    result = analyze(["SCOR_POF", "SCOR_CASH_TO_CASH"], MODELS, KPIS, KPIS, {}, None)
    codes = [m.code for m in result.models]
    assert codes == sorted(codes)
    # Cash-to-cash reads nothing itself: its models come through kpi(FIN_DSO) and the others.
    assert set(codes) == {"ORDER", *KPIS["SCOR_CASH_TO_CASH"].required_object_model_codes}
    by_code = {m.code: m for m in result.models}
    assert by_code["PAYMENT"].required_by_kpi_codes == ("SCOR_CASH_TO_CASH",)
    assert by_code["ORDER"].unmapped_required_fields == tuple(
        f.name for f in ORDER.fields if f.required)
    assert result.value_chain_codes == ("SCOR",)
    assert result.unmapped_model_codes == ()


def test_unknown_kpis_are_named_in_an_analysis() -> None:
    with pytest.raises(InvalidArgument) as caught:
        analyze(["SCOR_POF", "SCOR_NOPE"], MODELS, KPIS, KPIS, {}, None)
    assert "kpi_codes[1]" in _violations(caught.value)


# -- request text ----------------------------------------------------------------------------


def test_a_nul_character_anywhere_in_a_request_is_found_with_its_path() -> None:
    clean = config_pb2.CreateDataSourceRequest(client_id="acme", data_source=config_pb2.DataSource(
        object_model_code="ORDER", credentials={"password": "x"}))
    clean.data_source.connection_settings.update({"host": "db", "options": {"ssl": "on"}})
    assert nul_character_field(clean) is None
    cases: dict[str, Callable[[config_pb2.CreateDataSourceRequest], object]] = {
        "client_id": lambda r: setattr(r, "client_id", "ac\0me"),
        "data_source.credentials.password":
            lambda r: r.data_source.credentials.__setitem__("password", "p\0"),
        "data_source.connection_settings.fields.options.struct_value.fields.ssl.string_value":
            lambda r: r.data_source.connection_settings.update({"options": {"ssl": "o\0n"}}),
        "data_source.field_mappings[1].source_field":
            lambda r: r.data_source.field_mappings.extend([
                config_pb2.FieldMapping(target_field="a"),
                config_pb2.FieldMapping(target_field="b", source_field="\0")]),
    }
    for path, spoil in cases.items():
        request = config_pb2.CreateDataSourceRequest()
        request.CopyFrom(clean)
        spoil(request)
        assert nul_character_field(request) == path


# -- data sources ----------------------------------------------------------------------------


def _source(**changes: object) -> DataSourceSpec:
    base: dict[str, object] = {
        "object_model_code": "ORDER",
        "integration_type": IntegrationType.BATCH_CONFORMED,
        "field_mappings": tuple(_full_order_mapping()),
    }
    return DataSourceSpec(**{**base, **changes})  # type: ignore[arg-type]


def test_a_sound_data_source_gets_its_mapping_report() -> None:
    report = check_data_source(_source(credentials=Credentials({"password": "x"})), MODELS)
    assert report.status is MappingStatus.VALID


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"object_model_code": "ORDERS"}, "data_source.object_model_code"),
        ({"tm_hours": HoursRange(100, 200)}, "data_source.tm_hours"),
        ({"integration_type": IntegrationType.STREAMING_API_NON_ARCHITECTED,
          "tm_hours": HoursRange(300, 200)}, "data_source.tm_hours.max_hours_hundredths"),
        ({"connection_settings": {"host": "db", "dbPassword": "x"}},
         "data_source.connection_settings.dbPassword"),
        ({"connection_settings": {"retries": float("nan")}}, "data_source.connection_settings"),
        ({"credentials": Credentials({"password": ""})}, "data_source.credentials"),
        ({"credentials": Credentials({"password": "x"}), "clear_credentials": True},
         "data_source.clear_credentials"),
    ],
)
def test_an_invalid_data_source_names_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_data_source(_source(**changes), MODELS)
    assert field in _violations(caught.value)
