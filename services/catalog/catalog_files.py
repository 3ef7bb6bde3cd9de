"""Reads the catalog data files (services/catalog/data) into a validated `Catalog`.

`catalog.yaml` holds the version, the value chains with their modules, and the lists of object
model and KPI files. Every problem found is reported, each naming the file and the item, so a
broken catalog is fixed in one pass rather than one error at a time.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
import pathlib
from collections.abc import Mapping

import yaml

from services.calculation.formula.errors import FormulaError
from services.calculation.formula.row_access import rule_problems
from services.calculation.formula.validation import CheckedFormula, check_formula
from services.catalog import sample_series
from services.catalog.carried_fields import resolve_carried_fields
from services.catalog.derived_fields import (
    check_carried_operands,
    read_derived_durations,
    read_derived_fields,
)
from services.catalog.domain import (
    Cardinality,
    Catalog,
    Direction,
    Field,
    FieldType,
    KpiDefinition,
    KpiSample,
    Module,
    ObjectModel,
    ObjectModelSample,
    Period,
    Relationship,
    RowAccessRule,
    SampleValue,
    Thresholds,
    TimeWindow,
    ValueChain,
)
from services.catalog.file_items import (
    IDENTIFIER,
    Invalid,
    Item,
    Problems,
    label,
    parse_enum,
    sample_value,
)

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = pathlib.Path(__file__).resolve().parent / "data"
CATALOG_FILE = "catalog.yaml"


class CatalogFileError(ValueError):
    """The catalog files are invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in the catalog files:\n{listing}")


def load_catalog_files(data_dir: pathlib.Path = DEFAULT_DATA_DIR) -> Catalog:
    """Reads and validates the catalog in `data_dir`; raises CatalogFileError listing every
    problem. Blocking file I/O: call it at start-up, or through asyncio.to_thread."""
    return _CatalogReader(data_dir).read()


class _CatalogReader:
    def __init__(self, data_dir: pathlib.Path) -> None:
        self.data_dir = data_dir
        self.problems = Problems()
        self.digest = hashlib.sha256()
        # Formulas that parsed and validated, by KPI code.
        self.references: dict[str, CheckedFormula] = {}

    def read(self) -> Catalog:
        root_data = self._load(CATALOG_FILE)
        if root_data is None:
            raise CatalogFileError(self.problems.items)
        root = Item(root_data, CATALOG_FILE, self.problems,
                     ("version", "samples", "value_chains", "object_model_files", "kpi_files"))
        version = root.text("version")
        window = self._sample_window(root)
        chains, modules = self._value_chains(root)
        models: dict[str, tuple[ObjectModel, str, str]] = {}  # code -> model, owner, file
        model_samples: dict[str, ObjectModelSample] = {}
        raw_samples: dict[str, tuple[list[object], str]] = {}
        for file_name in root.texts("object_model_files"):
            self._object_model_file(file_name, chains, models, raw_samples)
        all_models = {code: entry[0] for code, entry in models.items()}
        for code, (model, owner, file_name) in list(models.items()):
            where = f"{file_name}: object model {code}"
            model = resolve_carried_fields(model, all_models, self.problems, where)
            model = check_carried_operands(model, self.problems, where)
            models[code] = (model, owner, file_name)
        all_models = {code: entry[0] for code, entry in models.items()}
        for code, (model, _, file_name) in models.items():
            self._check_relationships(model, all_models, f"{file_name}: object model {code}")
        for code, (rows, where) in raw_samples.items():
            model_samples[code] = self._object_model_sample(all_models[code], rows, where)

        kpi_items: list[tuple[Item, str]] = []
        for file_name in root.texts("kpi_files"):
            kpi_items.extend(self._kpi_file(file_name, chains))
        kpis, samples = self._kpis(kpi_items, version, modules, all_models, window)

        if self.problems.items:
            raise CatalogFileError(self.problems.items)
        return _assemble(version, self.digest.hexdigest(), chains, modules, models, kpis,
                         samples, model_samples)

    # -- files ------------------------------------------------------------------------------

    def _load(self, file_name: str) -> object | None:
        """The parsed file, or None (and a problem) when it cannot be read or parsed."""
        path = self.data_dir / file_name
        try:
            content = path.read_bytes()
        except OSError as error:
            self.problems.add(file_name, f"cannot be read ({error.strerror})")
            return None
        # The hash covers every file by name and content, in the order catalog.yaml lists them.
        self.digest.update(file_name.encode("utf-8") + b"\0" + content + b"\0")
        try:
            return yaml.safe_load(content) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            position = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            reason = getattr(error, "problem", None) or str(error)
            self.problems.add(file_name, f"is not valid YAML{position}: {reason}")
            return None

    def _sample_window(self, root: Item) -> sample_series.SeriesWindow:
        item = Item(root.data.get("samples"), f"{CATALOG_FILE}: samples", self.problems,
                     ("period", "points", "end"))
        period = parse_enum(Period, item.text("period"), item)
        points = item.data.get("points")
        if not isinstance(points, int) or isinstance(points, bool) or not 1 <= points <= 1000:
            item.problems.add(item.where, "points must be a whole number from 1 to 1000")
            points = 1
        end = item.data.get("end")
        if not isinstance(end, datetime.date) or isinstance(end, datetime.datetime):
            item.problems.add(item.where, "end must be a date (YYYY-MM-DD)")
            end = datetime.date(2000, 1, 1)
        return sample_series.SeriesWindow(period or Period.DAY, points, end)

    def _value_chains(self, root: Item) -> tuple[dict[str, _Chain], dict[str, _Module]]:
        chains: dict[str, _Chain] = {}
        modules: dict[str, _Module] = {}
        for index, raw in enumerate(root.items("value_chains")):
            where = f"{CATALOG_FILE}: value chain {label(raw, 'code', str(index))}"
            item = Item(raw, where, self.problems, ("code", "name", "description", "modules"))
            code = item.code()
            if code in chains:
                self.problems.add(where, "duplicate value chain code")
            chain = _Chain(code, item.text("name"), item.text("description"), [])
            chains[code] = chain
            for module_index, raw_module in enumerate(item.items("modules")):
                module_where = (f"{CATALOG_FILE}: module "
                                f"{label(raw_module, 'code', f'{code}[{module_index}]')}")
                module_item = Item(raw_module, module_where, self.problems,
                                   ("code", "name", "description"))
                module_code = module_item.code()
                if module_code in modules:
                    self.problems.add(module_where, "duplicate module code")
                modules[module_code] = _Module(module_code, module_item.text("name"),
                                               module_item.text("description"), code)
                chain.module_codes.append(module_code)
            if not chain.module_codes:
                self.problems.add(where, "has no modules")
        return chains, modules

    def _owner(self, item: Item, chains: Mapping[str, _Chain]) -> str:
        owner = item.code("value_chain")
        if owner and owner not in chains:
            self.problems.add(item.where, f"unknown value chain {owner}")
        return owner

    # -- object models --------------------------------------------------------------------

    def _object_model_file(
        self, file_name: str, chains: Mapping[str, _Chain],
        models: dict[str, tuple[ObjectModel, str, str]],
        raw_samples: dict[str, tuple[list[object], str]],
    ) -> None:
        data = self._load(file_name)
        if data is None:
            return
        top = Item(data, file_name, self.problems, ("value_chain", "object_models"))
        owner = self._owner(top, chains)
        for index, raw in enumerate(top.items("object_models")):
            where = f"{file_name}: object model {label(raw, 'code', str(index))}"
            item = Item(raw, where, self.problems,
                         ("code", "name", "description", "schema", "table", "time_field",
                          "fields", "derived_fields", "derived_durations", "relationships",
                          "samples"))
            model = self._object_model(item, owner)
            if model.code in models:
                self.problems.add(item.where, f"duplicate object model code (also in "
                                              f"{models[model.code][2]})")
                continue
            clash = next((other for other, _, _ in models.values()
                          if (other.schema_name, other.table_name)
                          == (model.schema_name, model.table_name)), None)
            if clash is not None:
                self.problems.add(item.where, f"table {model.schema_name}.{model.table_name} is "
                                              f"also used by {clash.code}")
            models[model.code] = (model, owner, file_name)
            raw_samples[model.code] = (item.items("samples"), item.where)

    def _object_model(self, item: Item, owner: str) -> ObjectModel:
        code = item.code()
        schema = item.text("schema")
        if owner and schema != f"{owner.lower()}_data":
            self.problems.add(item.where, f"schema must be {owner.lower()}_data, the schema of "
                                          f"value chain {owner}")
        table = item.text("table")
        if table and not IDENTIFIER.match(table):
            self.problems.add(item.where, f"table {table!r} must be lower_snake_case")
        fields = tuple(self._field(raw, f"{item.where}: field {label(raw, 'name', str(index))}")
                       for index, raw in enumerate(item.items("fields")))
        self._check_fields(item.where, fields)
        time_field = item.text("time_field")
        time = next((field for field in fields if field.name == time_field), None)
        if time_field and (time is None or not time.type.is_temporal or not time.required):
            self.problems.add(item.where, f"time_field {time_field!r} must name a required "
                                          "timestamp or date field")
        relationships = tuple(
            self._relationship(
                raw, f"{item.where}: relationship {label(raw, 'name', str(index))}")
            for index, raw in enumerate(item.items("relationships"))
        )
        derived = read_derived_fields(item.items("derived_fields"), item.where, self.problems,
                                      fields, relationships)
        durations = read_derived_durations(item.items("derived_durations"), item.where,
                                           self.problems, fields, derived, relationships)
        return ObjectModel(code, item.text("name"), item.text("description"), schema, table,
                           time_field, fields, relationships, (owner,), derived, durations)

    def _field(self, raw: object, where: str) -> Field:
        item = Item(raw, where, self.problems,
                    ("name", "type", "description", "required", "key", "allowed_values", "unit"))
        name = item.text("name")
        if name and not IDENTIFIER.match(name):
            self.problems.add(item.where, "name must be lower_snake_case")
        field_type = parse_enum(FieldType, item.text("type"), item) or FieldType.STRING
        field = Field(name, field_type, item.text("description"), item.flag("required"),
                      item.flag("key"), item.texts("allowed_values"),
                      item.text("unit", required=False))
        if field.key and not field.required:
            self.problems.add(item.where, "a key field must be required")
        if field.allowed_values and field_type is not FieldType.STRING:
            self.problems.add(item.where, "allowed_values only apply to string fields")
        if field.unit and not field_type.is_numeric:
            self.problems.add(item.where, "unit only applies to integer or decimal fields")
        return field

    def _check_fields(self, where: str, fields: tuple[Field, ...]) -> None:
        names = [field.name for field in fields]
        for name in sorted({name for name in names if names.count(name) > 1}):
            self.problems.add(where, f"duplicate field {name!r}")
        if not fields:
            self.problems.add(where, "has no fields")
        elif not any(field.key for field in fields):
            self.problems.add(where, "has no key field")

    def _relationship(self, raw: object, where: str) -> Relationship:
        item = Item(raw, where, self.problems, ("name", "target", "cardinality", "source_field",
                                                 "target_field", "description",
                                                 "target_time_window", "carried_fields"))
        name = item.text("name")
        if name and not IDENTIFIER.match(name):
            self.problems.add(where, f"relationship name {name!r} must be lower_snake_case")
        cardinality = parse_enum(Cardinality, item.text("cardinality"), item)
        window = None
        if "target_time_window" in item.data:
            window = self._time_window(item.data["target_time_window"],
                                       f"{where}: target_time_window")
            if cardinality is not Cardinality.MANY_TO_ONE:
                self.problems.add(where, "target_time_window is for many_to_one relationships")
        # Names only until every model is read (resolve_carried_fields copies their specs).
        carried = tuple(Field(str(name), FieldType.STRING, "")
                        for name in item.texts("carried_fields"))
        if carried and cardinality is not Cardinality.MANY_TO_ONE:
            self.problems.add(where, "carried_fields are for many_to_one relationships")
        return Relationship(name, item.code("target"), cardinality or Cardinality.MANY_TO_ONE,
                            item.text("source_field"), item.text("target_field"),
                            item.text("description"), window, carried)

    def _time_window(self, raw: object, where: str) -> TimeWindow | None:
        """`{days_before: N, days_after: M}`, whole days from 0 to 3660."""
        item = Item(raw, where, self.problems, ("days_before", "days_after"))
        days = []
        for key in ("days_before", "days_after"):
            value = item.number(key)
            if value is None or value != int(value) or not 0 <= value <= 3660:
                self.problems.add(where, f"{key} must be a whole number of days from 0 to 3660")
                return None
            days.append(int(value))
        return TimeWindow(days[0], days[1])

    def _check_relationships(self, model: ObjectModel, models: Mapping[str, ObjectModel],
                             where: str) -> None:
        seen: set[str] = set()
        for rel in model.relationships:
            at = f"{where}: relationship {rel.name or '?'}"
            if rel.name in seen:
                self.problems.add(at, "duplicate relationship name")
            seen.add(rel.name)
            if (
                model.field(rel.name) is not None
                or model.derived_field(rel.name) is not None
                or any(d.name == rel.name for d in model.derived_durations)
            ):
                self.problems.add(at, "has the same name as a field")
            source = model.field(rel.source_field)
            if source is None:
                self.problems.add(at, f"source_field {rel.source_field!r} is not a field of "
                                      f"{model.code}")
            target_model = models.get(rel.target_object_model_code)
            if target_model is None:
                self.problems.add(at, f"unknown target object model "
                                      f"{rel.target_object_model_code}")
                continue
            target = target_model.field(rel.target_field)
            if target is None:
                self.problems.add(at, f"target_field {rel.target_field!r} is not a field of "
                                      f"{target_model.code}")
                continue
            if source is not None and source.type is not target.type:
                self.problems.add(at, f"{rel.source_field} ({source.type}) and "
                                      f"{target_model.code}.{rel.target_field} ({target.type}) "
                                      "have different types")
            # The "one" side of a relationship must identify a single row.
            one_side = source if rel.cardinality is Cardinality.ONE_TO_MANY else target
            if one_side is not None and not one_side.key:
                self.problems.add(at, f"{one_side.name} must be a key field on the 'one' side "
                                      f"of a {rel.cardinality} relationship")

    def _object_model_sample(self, model: ObjectModel, rows: list[object],
                             where: str) -> ObjectModelSample:
        checked: list[dict[str, SampleValue]] = []
        for index, raw in enumerate(rows):
            at = f"{where}: samples[{index}]"
            if not isinstance(raw, Mapping):
                self.problems.add(at, "expected a mapping of field name to value")
                continue
            row: dict[str, SampleValue] = {}
            for name in raw:
                if model.field(str(name)) is None:
                    self.problems.add(at, f"{name!r} is not a field of {model.code}")
            for field in model.fields:
                value = sample_value(field, raw.get(field.name))
                if isinstance(value, Invalid):
                    self.problems.add(at, f"{field.name}: {value.reason}")
                    continue
                row[field.name] = value
            checked.append(row)
        if not checked:
            self.problems.add(where, "has no sample rows")
        return ObjectModelSample(model.code, tuple(checked))

    # -- KPIs -----------------------------------------------------------------------------

    def _kpi_file(self, file_name: str, chains: Mapping[str, _Chain]) -> list[tuple[Item, str]]:
        data = self._load(file_name)
        if data is None:
            return []
        top = Item(data, file_name, self.problems, ("value_chain", "kpis"))
        owner = self._owner(top, chains)
        items = []
        for index, raw in enumerate(top.items("kpis")):
            item = Item(raw, f"{file_name}: KPI {label(raw, 'code', str(index))}", self.problems,
                         ("code", "name", "description", "module", "unit", "direction", "target",
                          "thresholds", "required_object_models", "components", "tags",
                          "formula", "sample", "row_access"))
            item.code()
            items.append((item, owner))
        return items

    def _kpis(
        self, items: list[tuple[Item, str]], version: str, modules: Mapping[str, _Module],
        models: Mapping[str, ObjectModel], window: sample_series.SeriesWindow,
    ) -> tuple[list[KpiDefinition], list[KpiSample]]:
        codes = [str(item.data.get("code", "")) for item, _ in items]
        kpis: list[KpiDefinition] = []
        samples: list[KpiSample] = []
        for item, owner in items:
            kpi = self._kpi(item, owner, version, modules, models, set(codes))
            if any(earlier.code == kpi.code for earlier in kpis):
                self.problems.add(item.where, "duplicate KPI code")
            kpis.append(kpi)
            samples.append(sample_series.generate(kpi.code, self._shape(item, kpi), window))
        self._check_required_models(items, kpis)
        self._check_component_cycles(items, kpis)
        return kpis, samples

    def _kpi(self, item: Item, owner: str, version: str, modules: Mapping[str, _Module],
             models: Mapping[str, ObjectModel], kpi_codes: set[str]) -> KpiDefinition:
        code = str(item.data.get("code", ""))
        module_code = item.code("module")
        module = modules.get(module_code)
        if module_code and module is None:
            self.problems.add(item.where, f"unknown module {module_code}")
        elif module is not None and module.value_chain_code != owner:
            self.problems.add(item.where, f"module {module_code} belongs to value chain "
                                          f"{module.value_chain_code}, not {owner}")
        required = item.texts("required_object_models")
        if not required:
            self.problems.add(item.where, "required_object_models must name at least one model")
        for model_code in required:
            if model_code not in models:
                self.problems.add(item.where, f"unknown object model {model_code}")
        components = item.texts("components")
        for component in components:
            if component == code:
                self.problems.add(item.where, "lists itself as a component")
            elif component not in kpi_codes:
                self.problems.add(item.where, f"unknown component KPI {component}")
        tags = item.texts("tags")
        for tag in tags:
            if not IDENTIFIER.match(tag):
                self.problems.add(item.where, f"tag {tag!r} must be lower_snake_case")
        direction = (parse_enum(Direction, item.text("direction"), item)
                     or Direction.HIGHER_IS_BETTER)
        target = item.number("target")
        thresholds = self._thresholds(item, direction, target)
        formula = " ".join(item.text("formula").split())
        if formula:
            try:
                self.references[code] = check_formula(formula, models, kpi_codes)
            except FormulaError as error:
                for diagnostic in error.diagnostics:
                    self.problems.add(item.where, f"formula {diagnostic}")
        row_access = self._row_access(item, required, models)
        return KpiDefinition(code, item.text("name"), item.text("description"), owner,
                             module_code, item.text("unit"), direction, target, thresholds,
                             required, formula, components, tags, version, row_access)

    def _row_access(self, item: Item, required: tuple[str, ...],
                    models: Mapping[str, ObjectModel]) -> tuple[RowAccessRule, ...]:
        """`row_access: [{object_model, field, claim, hierarchy: MODEL.parent_relationship}]`."""
        rules: list[RowAccessRule] = []
        for index, raw in enumerate(item.items("row_access")):
            where = f"{item.where}: row_access[{index}]"
            entry = Item(raw, where, self.problems, ("object_model", "field", "claim",
                                                     "hierarchy"))
            hierarchy = entry.text("hierarchy", required=False)
            model_code, _, parent = hierarchy.partition(".")
            rule = RowAccessRule(entry.code("object_model"), entry.text("field"),
                                 entry.text("claim"), model_code, parent)
            if rule.object_model_code and rule.object_model_code not in required:
                self.problems.add(where, f"{rule.object_model_code} is not among the KPI's "
                                         "required_object_models")
            for problem in rule_problems(rule, models):
                self.problems.add(where, problem)
            rules.append(rule)
        return tuple(rules)

    def _thresholds(self, item: Item, direction: Direction, target: float | None) -> Thresholds:
        raw = item.data.get("thresholds")
        if raw is None:
            if direction is Direction.TARGET_IS_BEST and target is None:
                self.problems.add(item.where, "a target_is_best KPI needs a target")
            return Thresholds()
        limits = Item(raw, f"{item.where}: thresholds", self.problems, ("warning", "critical"))
        warning, critical = limits.number("warning"), limits.number("critical")
        if direction is Direction.TARGET_IS_BEST:
            if target is None:
                self.problems.add(item.where, "a target_is_best KPI needs a target")
            ordered = [0.0, warning, critical]  # distances from the target grow
        elif direction is Direction.HIGHER_IS_BETTER:
            ordered = [critical, warning, target]
        else:
            ordered = [target, warning, critical]
        present = [value for value in ordered if value is not None]
        if present != sorted(present):
            self.problems.add(item.where, _THRESHOLD_RULES[direction])
        return Thresholds(warning, critical)

    def _shape(self, item: Item, kpi: KpiDefinition) -> sample_series.SeriesShape:
        spec = Item(item.data.get("sample"), f"{item.where}: sample", self.problems,
                     ("base", "amplitude", "trend", "noise", "seed", "min", "max", "decimals"))
        base = spec.number("base")
        if base is None:
            self.problems.add(spec.where, "base is required")
        is_percent = kpi.unit == "%"
        minimum = spec.number("min")
        maximum = spec.number("max")
        decimals = spec.data.get("decimals", 2)
        seed = spec.data.get("seed")
        if not isinstance(decimals, int) or not 0 <= decimals <= 6:
            self.problems.add(spec.where, "decimals must be a whole number from 0 to 6")
            decimals = 2
        if seed is not None and not isinstance(seed, int):
            self.problems.add(spec.where, "seed must be a whole number")
            seed = None
        return sample_series.SeriesShape(
            base=base or 0.0,
            amplitude=spec.number("amplitude") or 0.0,
            trend=spec.number("trend") or 0.0,
            noise=spec.number("noise") or 0.0,
            seed=seed,
            # Percentages stay within 0–100 and other measures non-negative unless the spec
            # says otherwise (NPS and margins can be negative).
            minimum=0.0 if minimum is None else minimum,
            maximum=100.0 if maximum is None and is_percent else maximum,
            decimals=decimals,
        )

    def _check_required_models(self, items: list[tuple[Item, str]],
                               kpis: list[KpiDefinition]) -> None:
        """required_object_models must be exactly what the formula reads: directly, through
        relationships, or through the KPIs it references."""
        by_code = {kpi.code: kpi for kpi in kpis}
        for (item, _), kpi in zip(items, kpis, strict=True):
            references = self.references.get(kpi.code)
            if references is None:
                continue
            read = set(references.object_model_codes)
            for referenced in references.kpi_codes:
                other = by_code.get(referenced)
                if other is not None:
                    read |= set(other.required_object_model_codes)
            declared = set(kpi.required_object_model_codes)
            if declared != read:
                missing, extra = sorted(read - declared), sorted(declared - read)
                detail = "; ".join(part for part in (
                    f"add {', '.join(missing)}" if missing else "",
                    f"remove {', '.join(extra)}" if extra else "") if part)
                self.problems.add(item.where, "required_object_models does not match what the "
                                              f"formula reads ({detail})")

    def _check_component_cycles(self, items: list[tuple[Item, str]],
                                kpis: list[KpiDefinition]) -> None:
        children = {kpi.code: kpi.component_kpi_codes for kpi in kpis}
        for (item, _), kpi in zip(items, kpis, strict=True):
            stack, seen = list(kpi.component_kpi_codes), set()
            while stack:
                code = stack.pop()
                if code == kpi.code:
                    self.problems.add(item.where, "component KPIs form a cycle back to this KPI")
                    break
                if code not in seen:
                    seen.add(code)
                    stack.extend(children.get(code, ()))


_THRESHOLD_RULES = {
    Direction.HIGHER_IS_BETTER: "thresholds of a higher_is_better KPI must satisfy "
                                "critical <= warning <= target",
    Direction.LOWER_IS_BETTER: "thresholds of a lower_is_better KPI must satisfy "
                               "target <= warning <= critical",
    Direction.TARGET_IS_BEST: "thresholds of a target_is_best KPI are distances from the "
                              "target and must satisfy 0 <= warning <= critical",
}


class _Chain:
    def __init__(self, code: str, name: str, description: str, module_codes: list[str]) -> None:
        self.code, self.name, self.description = code, name, description
        self.module_codes = module_codes


class _Module:
    def __init__(self, code: str, name: str, description: str, value_chain_code: str) -> None:
        self.code, self.name, self.description = code, name, description
        self.value_chain_code = value_chain_code


def _assemble(
    version: str, content_hash: str, chains: Mapping[str, _Chain],
    modules: Mapping[str, _Module], models: Mapping[str, tuple[ObjectModel, str, str]],
    kpis: list[KpiDefinition], samples: list[KpiSample],
    model_samples: Mapping[str, ObjectModelSample],
) -> Catalog:
    """Fills in what is derived: KPI counts, and the value chains that read each object model."""
    readers: dict[str, set[str]] = {code: {owner} for code, (_, owner, _) in models.items()}
    for kpi in kpis:
        for code in kpi.required_object_model_codes:
            readers[code].add(kpi.value_chain_code)
    per_chain = {code: sum(1 for kpi in kpis if kpi.value_chain_code == code) for code in chains}
    per_module = {code: sum(1 for kpi in kpis if kpi.module_code == code) for code in modules}
    return Catalog(
        version=version,
        content_hash=content_hash,
        value_chains=tuple(
            ValueChain(c.code, c.name, c.description, tuple(c.module_codes), per_chain[c.code])
            for c in chains.values()
        ),
        modules=tuple(
            Module(m.code, m.name, m.description, m.value_chain_code, per_module[m.code])
            for m in modules.values()
        ),
        object_models=tuple(
            dataclasses.replace(model, value_chain_codes=tuple(sorted(readers[code])))
            for code, (model, _, _) in models.items()
        ),
        kpis=tuple(kpis),
        kpi_samples=tuple(samples),
        object_model_samples=tuple(model_samples.values()),
    )
