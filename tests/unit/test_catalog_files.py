"""The shipped catalog files validate, and broken ones are refused with errors that say where."""

from __future__ import annotations

import pathlib
import re
import shutil
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from services.calculation.formula.compiler import FormulaCatalog, compile_kpis
from services.calculation.formula.parser import parse
from services.calculation.formula.printer import to_text
from services.catalog.catalog_files import DEFAULT_DATA_DIR, CatalogFileError, load_catalog_files
from services.catalog.domain import Catalog, Direction, FieldType, Period


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog_files()


def test_shipped_catalog_covers_every_value_chain(shipped: Catalog) -> None:
    assert [chain.code for chain in shipped.value_chains] == ["SCOR", "CRM", "SALES", "FINANCIAL"]
    assert shipped.version
    assert len(shipped.kpis) >= 60
    for chain in shipped.value_chains:
        assert chain.kpi_count == sum(1 for k in shipped.kpis if k.value_chain_code == chain.code)
        assert chain.kpi_count >= 5, chain.code
    for module in shipped.modules:
        assert module.kpi_count >= 1, f"module {module.code} has no KPI"
    scor = next(chain for chain in shipped.value_chains if chain.code == "SCOR")
    assert scor.module_codes == ("SCOR_PLAN", "SCOR_SOURCE", "SCOR_MAKE", "SCOR_DELIVER",
                                 "SCOR_RETURN", "SCOR_ENABLE")


def test_perfect_order_decomposes_into_its_components(shipped: Catalog) -> None:
    pof = shipped.kpi("SCOR_POF")
    assert pof is not None
    assert pof.component_kpi_codes == ("SCOR_OTD", "SCOR_IN_FULL", "SCOR_DAMAGE_FREE",
                                       "SCOR_DOC_ACCURACY")
    assert pof.direction is Direction.HIGHER_IS_BETTER
    assert pof.unit == "%"
    assert pof.target == 95
    assert pof.required_object_model_codes == ("ORDER",)
    assert pof.catalog_version == shipped.version


# The KPIs issue 3 names, per value chain; the catalog may hold more.
NAMED_KPIS = {
    "SCOR": {"SCOR_POF", "SCOR_OFCT", "SCOR_OTD", "SCOR_FILL_RATE", "SCOR_INVENTORY_DOS",
             "SCOR_CASH_TO_CASH", "SCOR_SUPPLIER_OTD", "SCOR_RETURN_RATE"},
    "CRM": {"CRM_RETENTION_RATE", "CRM_CHURN_RATE", "CRM_CLV", "CRM_NPS", "CRM_CAC",
            "CRM_LEAD_CONVERSION", "CRM_RESOLUTION_TIME"},
    "SALES": {"SALES_REVENUE", "SALES_WIN_RATE", "SALES_AVG_DEAL_SIZE", "SALES_CYCLE_LENGTH",
              "SALES_PIPELINE_COVERAGE", "SALES_QUOTA_ATTAINMENT"},
    "FINANCIAL": {"FIN_GROSS_MARGIN", "FIN_DSO", "FIN_DPO", "FIN_DIO",
                  "FIN_OPERATING_CASH_FLOW", "FIN_EBITDA_MARGIN"},
}


def test_catalog_holds_the_named_kpis_in_their_value_chains(shipped: Catalog) -> None:
    for chain, codes in NAMED_KPIS.items():
        for code in codes:
            definition = shipped.kpi(code)
            assert definition is not None, code
            assert definition.value_chain_code == chain, code


@pytest.mark.parametrize(
    ("code", "components"),
    [
        ("SCOR_CASH_TO_CASH", ("FIN_DSO", "FIN_DIO", "FIN_DPO")),
        ("FIN_GROSS_MARGIN", ("FIN_NET_REVENUE", "FIN_COGS")),
        ("FIN_EBITDA_MARGIN", ("FIN_GROSS_MARGIN", "FIN_OPEX_RATIO")),
        ("SALES_REVENUE", ("SALES_DEALS_WON", "SALES_AVG_DEAL_SIZE")),
        ("CRM_CLV", ("CRM_AVG_TERM_VALUE", "CRM_CHURN_RATE")),
        ("CRM_NPS", ("CRM_PROMOTER_SHARE", "CRM_DETRACTOR_SHARE")),
        ("SCOR_SUPPLIER_OTIF", ("SCOR_SUPPLIER_OTD", "SCOR_SUPPLIER_IN_FULL")),
    ],
)
def test_driver_trees(shipped: Catalog, code: str, components: tuple[str, ...]) -> None:
    definition = shipped.kpi(code)
    assert definition is not None and definition.component_kpi_codes == components


def test_kpis_a_formula_builds_on_are_its_components(shipped: Catalog) -> None:
    """A derived KPI (one whose formula uses kpi(...)) shows what it is built from in its tree."""
    derived = 0
    for definition in shipped.kpis:
        referenced = set(re.findall(r"kpi\(\s*([A-Z0-9_]+)\s*\)", definition.formula))
        derived += bool(referenced)
        assert referenced <= set(definition.component_kpi_codes), definition.code
    assert derived >= 5


def test_object_models_are_complete_for_a_uml_view(shipped: Catalog) -> None:
    order = shipped.object_model("ORDER")
    assert order is not None
    assert (order.schema_name, order.table_name, order.time_field) == ("scor_data", "orders",
                                                                       "created_at")
    status = order.field("status")
    assert status is not None and "delivered" in status.allowed_values
    value = order.field("order_value")
    assert value is not None and value.type is FieldType.DECIMAL and value.unit == "USD"
    assert [f.name for f in order.fields if f.key] == ["order_id"]
    customer = order.relationship("customer")
    assert customer is not None and customer.target_object_model_code == "CUSTOMER"
    schemas = {model.schema_name for model in shipped.object_models}
    assert schemas == {"scor_data", "crm_data", "sales_data", "financial_data"}
    # Read by a Financial KPI as well as owned by SCOR.
    inventory = shipped.object_model("INVENTORY_SNAPSHOT")
    assert inventory is not None and inventory.value_chain_codes == ("FINANCIAL", "SCOR")


def test_every_kpi_and_object_model_has_sample_data(shipped: Catalog) -> None:
    samples = {sample.kpi_code: sample for sample in shipped.kpi_samples}
    assert set(samples) == {kpi.code for kpi in shipped.kpis}
    for kpi in shipped.kpis:
        sample = samples[kpi.code]
        assert sample.period is Period.DAY
        assert len(sample.points) == 30
        starts = [point.bucket_start for point in sample.points]
        assert starts == sorted(starts) and len(set(starts)) == 30
        assert all(point.value >= 0 for point in sample.points) or kpi.code in {
            "CRM_NPS", "FIN_EBITDA_MARGIN"}, kpi.code
        if kpi.unit == "%" and (kpi.target or 0) < 100:
            assert all(point.value <= 100 for point in sample.points), kpi.code
    rows = {sample.object_model_code: sample.rows for sample in shipped.object_model_samples}
    assert set(rows) == {model.code for model in shipped.object_models}
    assert all(len(model_rows) >= 3 for model_rows in rows.values())
    first_order = rows["ORDER"][0]
    assert first_order["created_at"] == "2026-10-02T14:12:00Z"
    assert first_order["delivered_in_full"] is True


def test_loading_is_deterministic(shipped: Catalog) -> None:
    assert load_catalog_files() == shipped


# -- broken catalogs ----------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def problems_after(tmp_path: pathlib.Path, file_name: str, mutate: Mutation) -> list[str]:
    """Copies the shipped catalog, changes one file, and returns the problems reported."""
    data_dir = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, data_dir)
    path = data_dir / file_name
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutate(content)
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    with pytest.raises(CatalogFileError) as raised:
        load_catalog_files(data_dir)
    assert str(raised.value).startswith(f"{len(raised.value.problems)} problem(s)")
    return list(raised.value.problems)


def kpi(content: dict[str, Any], code: str) -> dict[str, Any]:
    return next(item for item in content["kpis"] if item["code"] == code)


def model(content: dict[str, Any], code: str) -> dict[str, Any]:
    return next(item for item in content["object_models"] if item["code"] == code)


def field(content: dict[str, Any], model_code: str, name: str) -> dict[str, Any]:
    return next(f for f in model(content, model_code)["fields"] if f["name"] == name)


def test_unknown_module(tmp_path: pathlib.Path) -> None:
    problems = problems_after(tmp_path, "kpis/scor.yaml",
                              lambda c: kpi(c, "SCOR_OTD").update(module="SCOR_SHIP"))
    assert problems == ["kpis/scor.yaml: KPI SCOR_OTD: unknown module SCOR_SHIP"]


def test_module_of_another_value_chain(tmp_path: pathlib.Path) -> None:
    problems = problems_after(tmp_path, "kpis/crm.yaml",
                              lambda c: kpi(c, "CRM_NPS").update(module="SALES_PIPELINE"))
    assert problems == ["kpis/crm.yaml: KPI CRM_NPS: module SALES_PIPELINE belongs to value "
                        "chain SALES, not CRM"]


def test_unknown_value_chain_of_a_file(tmp_path: pathlib.Path) -> None:
    problems = problems_after(tmp_path, "kpis/sales.yaml", lambda c: c.update(value_chain="HR"))
    assert "kpis/sales.yaml: unknown value chain HR" in problems


def test_unknown_component_and_cycle(tmp_path: pathlib.Path) -> None:
    def mutate(content: dict[str, Any]) -> None:
        kpi(content, "SCOR_OTD")["components"] = ["SCOR_POF"]
        kpi(content, "SCOR_IN_FULL")["components"] = ["SCOR_NOPE"]

    problems = problems_after(tmp_path, "kpis/scor.yaml", mutate)
    assert "kpis/scor.yaml: KPI SCOR_IN_FULL: unknown component KPI SCOR_NOPE" in problems
    assert "kpis/scor.yaml: KPI SCOR_OTD: component KPIs form a cycle back to this KPI" in problems
    assert "kpis/scor.yaml: KPI SCOR_POF: component KPIs form a cycle back to this KPI" in problems


def test_duplicate_kpi_code(tmp_path: pathlib.Path) -> None:
    problems = problems_after(tmp_path, "kpis/financial.yaml",
                              lambda c: kpi(c, "FIN_DPO").update(code="FIN_DSO"))
    assert "kpis/financial.yaml: KPI FIN_DSO: duplicate KPI code" in problems
    # Whatever referred to the renamed KPI is reported too.
    assert "kpis/scor.yaml: KPI SCOR_CASH_TO_CASH: unknown component KPI FIN_DPO" in problems


def test_unknown_required_object_model(tmp_path: pathlib.Path) -> None:
    problems = problems_after(
        tmp_path, "kpis/crm.yaml",
        lambda c: kpi(c, "CRM_NPS").update(required_object_models=["SURVEY_RESPONSE", "SURVEY"]),
    )
    assert "kpis/crm.yaml: KPI CRM_NPS: unknown object model SURVEY" in problems


def test_required_object_models_must_match_the_formula(tmp_path: pathlib.Path) -> None:
    problems = problems_after(
        tmp_path, "kpis/scor.yaml",
        lambda c: kpi(c, "SCOR_FILL_RATE").update(required_object_models=["ORDER_LINE",
                                                                          "SHIPMENT"]),
    )
    assert problems == ["kpis/scor.yaml: KPI SCOR_FILL_RATE: required_object_models does not "
                        "match what the formula reads (add ORDER; remove SHIPMENT)"]


def test_formula_with_unknown_field_and_value(tmp_path: pathlib.Path) -> None:
    def mutate(content: dict[str, Any]) -> None:
        kpi(content, "SCOR_OTD")["formula"] = (
            "100 * count(ORDER where status = 'delivered' and delivered_on <= promised_at) "
            "/ count(ORDER where status = 'shipped_late')"
        )

    problems = problems_after(tmp_path, "kpis/scor.yaml", mutate)
    assert problems == [
        "kpis/scor.yaml: KPI SCOR_OTD: formula line 1, column 50: unknown field 'delivered_on' "
        "of ORDER (did you mean 'delivered_at'?)",
        "kpis/scor.yaml: KPI SCOR_OTD: formula line 1, column 108: 'shipped_late' is not an "
        "allowed value of status (open, allocated, shipped, delivered, cancelled)",
    ]


def test_inconsistent_thresholds(tmp_path: pathlib.Path) -> None:
    problems = problems_after(
        tmp_path, "kpis/scor.yaml",
        lambda c: kpi(c, "SCOR_OFCT").update(thresholds={"warning": 6, "critical": 5}),
    )
    assert problems == ["kpis/scor.yaml: KPI SCOR_OFCT: thresholds of a lower_is_better KPI "
                        "must satisfy target <= warning <= critical"]


def test_target_is_best_needs_a_target(tmp_path: pathlib.Path) -> None:
    problems = problems_after(tmp_path, "kpis/sales.yaml",
                              lambda c: kpi(c, "SALES_PIPELINE_COVERAGE").pop("target"))
    assert problems == ["kpis/sales.yaml: KPI SALES_PIPELINE_COVERAGE: a target_is_best KPI "
                        "needs a target"]


def test_relationship_to_unknown_object_model(tmp_path: pathlib.Path) -> None:
    def mutate(content: dict[str, Any]) -> None:
        model(content, "ORDER")["relationships"][0]["target"] = "CLIENT"

    problems = problems_after(tmp_path, "object_models/scor.yaml", mutate)
    assert problems == ["object_models/scor.yaml: object model ORDER: relationship customer: "
                        "unknown target object model CLIENT"]


def test_relationship_fields_must_exist_and_agree(tmp_path: pathlib.Path) -> None:
    def mutate(content: dict[str, Any]) -> None:
        relationships = model(content, "ORDER_LINE")["relationships"]
        relationships[0]["target_field"] = "order_number"
        relationships[1]["source_field"] = "line_number"

    problems = problems_after(tmp_path, "object_models/scor.yaml", mutate)
    assert problems == [
        "object_models/scor.yaml: object model ORDER_LINE: relationship order: target_field "
        "'order_number' is not a field of ORDER",
        "object_models/scor.yaml: object model ORDER_LINE: relationship product: line_number "
        "(integer) and PRODUCT.product_id (string) have different types",
    ]


def test_unknown_field_type(tmp_path: pathlib.Path) -> None:
    problems = problems_after(
        tmp_path, "object_models/financial.yaml",
        lambda c: field(c, "INVOICE", "amount").update(type="money"),
    )
    assert "object_models/financial.yaml: object model INVOICE: field amount: 'money' is not " \
           "one of string, integer, decimal, boolean, timestamp, date" in problems


def test_time_field_must_be_temporal(tmp_path: pathlib.Path) -> None:
    problems = problems_after(tmp_path, "object_models/sales.yaml",
                              lambda c: model(c, "QUOTA").update(time_field="amount"))
    assert problems == ["object_models/sales.yaml: object model QUOTA: time_field 'amount' must "
                        "name a required timestamp or date field"]


def test_duplicate_field_and_wrong_schema(tmp_path: pathlib.Path) -> None:
    def mutate(content: dict[str, Any]) -> None:
        lead = model(content, "LEAD")
        lead["schema"] = "sales_data"
        lead["fields"].append(dict(lead["fields"][1]))

    problems = problems_after(tmp_path, "object_models/crm.yaml", mutate)
    assert problems == [
        "object_models/crm.yaml: object model LEAD: schema must be crm_data, the schema of "
        "value chain CRM",
        "object_models/crm.yaml: object model LEAD: duplicate field 'source'",
    ]


def test_sample_rows_are_type_checked(tmp_path: pathlib.Path) -> None:
    def mutate(content: dict[str, Any]) -> None:
        rows = model(content, "SUPPORT_TICKET")["samples"]
        rows[0]["contact_count"] = "one"
        rows[1]["priority"] = "critical"
        rows[2]["assignee"] = "REP-001"

    problems = problems_after(tmp_path, "object_models/crm.yaml", mutate)
    where = "object_models/crm.yaml: object model SUPPORT_TICKET: samples"
    assert problems == [
        f"{where}[0]: contact_count: 'one' is not a whole number",
        f"{where}[1]: priority: 'critical' is not one of low, normal, high, urgent",
        f"{where}[2]: 'assignee' is not a field of SUPPORT_TICKET",
    ]


def test_invalid_yaml_names_the_line(tmp_path: pathlib.Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, data_dir)
    (data_dir / "kpis" / "crm.yaml").write_text("value_chain: CRM\nkpis:\n  - code: [\n")
    with pytest.raises(CatalogFileError) as raised:
        load_catalog_files(data_dir)
    assert raised.value.problems == (
        "kpis/crm.yaml: is not valid YAML at line 4, column 1: expected the node content, but "
        "found '<stream end>'",
    )


def test_listed_file_missing(tmp_path: pathlib.Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, data_dir)
    (data_dir / "kpis" / "sales.yaml").unlink()
    with pytest.raises(CatalogFileError) as raised:
        load_catalog_files(data_dir)
    assert "kpis/sales.yaml: cannot be read (No such file or directory)" in raised.value.problems


def test_content_hash_follows_the_files(tmp_path: pathlib.Path, shipped: Catalog) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, data_dir)
    assert load_catalog_files(data_dir).content_hash == shipped.content_hash
    path = data_dir / "kpis" / "crm.yaml"
    path.write_text(path.read_text().replace("target: 50", "target: 55"))
    changed = load_catalog_files(data_dir)
    assert changed.content_hash != shipped.content_hash
    nps = changed.kpi("CRM_NPS")
    assert nps is not None and nps.target == 55


def test_every_shipped_formula_compiles_and_reads_what_it_declares(shipped: Catalog) -> None:
    """The engine's own parser and compiler accept every formula, printing and re-parsing gives
    the same tree, and the measures land only on object models the KPI declares."""
    catalog = FormulaCatalog.from_catalog(shipped)
    compiled = compile_kpis([kpi.code for kpi in shipped.kpis], catalog)
    for definition in shipped.kpis:
        tree = parse(definition.formula)
        assert parse(to_text(tree)) == tree, definition.code
        read = set(compiled.kpis[definition.code].object_model_codes)
        assert read <= set(definition.required_object_model_codes), definition.code


def relationship(content: dict[str, Any], model_code: str, name: str) -> dict[str, Any]:
    return next(r for r in model(content, model_code)["relationships"] if r["name"] == name)


def test_target_time_window_is_read_and_checked(shipped: Catalog, tmp_path: pathlib.Path) -> None:
    order_line = shipped.object_model("ORDER_LINE")
    assert order_line is not None
    by_name = {r.name: r for r in order_line.relationships}
    window = by_name["order"].target_time_window
    assert window is not None and (window.days_before, window.days_after) == (7, 1)
    # Master data has no usual place in time: no window.
    assert by_name["product"].target_time_window is None

    def mutate(content: dict[str, Any]) -> None:
        relationship(content, "ORDER_LINE", "order")["target_time_window"] = {
            "days_before": -1, "days_after": 1}
        relationship(content, "ORDER", "lines")["target_time_window"] = {
            "days_before": 1, "days_after": 1}

    problems = problems_after(tmp_path, "object_models/scor.yaml", mutate)
    assert any("target_time_window: days_before must be a whole number of days" in p
               for p in problems), problems
    assert any("relationship lines: target_time_window is for many_to_one" in p
               for p in problems), problems
