"""The proposal questionnaire: the specification's eight steps as typed questions, with options
priced from the pricing tables, defaults, recommendations and the conditions under which a question
applies. Answers so far decide per-item defaults and compliance recommendations, and turn into the
ProposalInputs a CreateProposal call would price (validated the same way)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from analytics.config.v1 import config_pb2, proposal_pb2
from analytics.config.v1.proposal_pb2 import QuestionnaireStep as Step
from analytics.config.v1.proposal_pb2 import QuestionType as Kind
from analytics.type.v1 import types_pb2

from services.config.pricing import model, tables
from services.config.pricing.money import Money, format_hours
from services.config.pricing.retention import DEFAULT_POLICY, apply_compliance
from services.config.pricing.retention import days as retention_days
from services.config.pricing.tables import DAYS_PER_UNIT
from services.config.proposals import choices as defaults
from services.config.proposals.catalog import CatalogFacts
from services.config.proposals.choices import choices_from_inputs
from services.config.proposals.messages import compliance_adjustment, priced_inputs
from services.config.proposals.proto_values import money, policy, to_proto_enum
from services.errors import InvalidArgument

SETUP_ENVIRONMENTS = [e for e, price in tables.ENVIRONMENTS.items() if price.setup_required]
CUSTOM = "custom"
INDEFINITE = "indefinite"
STAGED_ACTIVE_DAYS = {"30": "Recommended for real-time analytics only",
                      "90": "Standard for most use cases", "180": "6 months", "365": "1 year"}
ANALYTICS_ACTIVE_DAYS = {"90": "3 months of historical trends", "180": "6 months",
                         "365": "1 year - Recommended", "730": "2 years"}
STAGED_ARCHIVE_YEARS = {"1": "", "3": "", "5": "Common for compliance",
                        "7": "Financial/SOX compliance", "10": "", INDEFINITE: ""}
ANALYTICS_ARCHIVE_YEARS = {"3": "", "5": "Recommended", "7": "", "10": "", INDEFINITE: ""}
GRANULARITIES = {
    "raw_data": ("Raw data points", "highest detail, largest storage"),
    "minute_aggregates": ("Minute-level aggregates", ""),
    "hourly_aggregates": ("Hourly aggregates", "Recommended minimum"),
    "daily_aggregates": ("Daily aggregates", "Recommended"),
    "monthly_aggregates": ("Monthly aggregates", "Recommended"),
}


@dataclass(frozen=True)
class Answers:
    """The answers so far, by (question id, subject)."""

    values: dict[tuple[str, str], proposal_pb2.AnswerValue]

    @classmethod
    def of(cls, answers: Sequence[proposal_pb2.Answer]) -> Answers:
        values: dict[tuple[str, str], proposal_pb2.AnswerValue] = {}
        for i, answer in enumerate(answers):
            if answer.question_id not in QUESTION_KINDS:
                raise InvalidArgument.for_field(
                    f"answers[{i}].question_id", f"unknown question {answer.question_id!r}")
            expected = QUESTION_KINDS[answer.question_id]
            if answer.value.WhichOneof("kind") != expected:
                raise InvalidArgument.for_field(
                    f"answers[{i}].value", f"{answer.question_id} is answered with `{expected}`")
            values[(answer.question_id, answer.subject.strip().upper())] = answer.value
        return cls(values)

    def get(self, question_id: str, subject: str = "") -> proposal_pb2.AnswerValue | None:
        return self.values.get((question_id, subject.upper()))

    def choice(self, question_id: str, default: str, subject: str = "") -> str:
        value = self.get(question_id, subject)
        return value.choice if value is not None else default

    def choices(self, question_id: str, default: Iterable[str]) -> list[str]:
        value = self.get(question_id)
        return list(value.choices.values) if value is not None else list(default)

    def integer(self, question_id: str, default: int, subject: str = "") -> int:
        value = self.get(question_id, subject)
        return value.integer if value is not None else default

    def boolean(self, question_id: str, default: bool) -> bool:
        value = self.get(question_id)
        return value.boolean if value is not None else default

    def text(self, question_id: str, default: str = "", subject: str = "") -> str:
        value = self.get(question_id, subject)
        if value is None:
            return default
        return value.decimal if value.WhichOneof("kind") == "decimal" else value.text


QUESTION_KINDS = {
    "kpi_codes": "choices", "value_chain_codes": "choices", "license_term_years": "choice",
    "source_system": "text", "integration_type": "choice", "integration_tm_min_hours": "integer",
    "integration_tm_max_hours": "integer", "kpi_complexity": "choice",
    "kpi_tm_min_hours": "integer", "kpi_tm_max_hours": "integer", "environment": "choice",
    "cloud_architect_hours": "integer", "staged_active_retention_days": "choice",
    "staged_active_retention_custom_days": "integer", "staged_archival_enabled": "boolean",
    "staged_archive_retention_years": "choice", "analytics_active_retention_days": "choice",
    "analytics_active_retention_custom_days": "integer", "analytics_archival_enabled": "boolean",
    "analytics_archive_retention_years": "choice", "granularity": "choices",
    "compliance_requirements": "choices", "other_compliance": "text",
    "daily_volume_gb": "decimal", "concurrent_users": "integer", "refresh_period": "choice",
    "kpi_count": "integer", "queries_per_day": "integer", "include_retainer": "boolean",
    "additional_support_hours": "integer",
}


def questionnaire(
    catalog: CatalogFacts,
    kpi_codes: Sequence[str],
    answer_list: Sequence[proposal_pb2.Answer],
    saved: Sequence[proposal_pb2.Answer] = (),
) -> proposal_pb2.GetQuestionnaireResponse:
    """`saved` are a client's configuration as answers: they pre-fill the questions (as their
    defaults) and count wherever the caller has not answered yet."""
    prefilled = Answers.of(saved)
    answers = Answers({**prefilled.values, **Answers.of(answer_list).values})
    kpis = _kpis(catalog, kpi_codes)
    chains = list(dict.fromkeys(catalog.kpis[code].value_chain_code for code in kpis
                                if catalog.kpis[code].value_chain_code))
    models = list(dict.fromkeys(m for code in kpis for m in catalog.kpis[code].object_model_codes))
    compliance = _compliance(answers)
    minimum = max((tables.COMPLIANCE_RULES[c].minimum_years or 0 for c in compliance), default=0)
    inputs = _inputs(answers, kpis, models)
    priced_choices = choices_from_inputs(inputs, catalog)
    _, adjustments = apply_compliance(priced_choices.retention_policy, priced_choices.compliance)
    steps = [
        _kpi_step(catalog, kpis),
        _licensing_step(catalog, chains),
        _integration_step(catalog, models),
        _kpi_implementation_step(catalog, kpis),
        _environment_step(),
        _retention_step(compliance, minimum),
        _infrastructure_step(len(kpis)),
        _managed_services_step(),
    ]
    _prefill(steps, prefilled)
    return proposal_pb2.GetQuestionnaireResponse(
        steps=steps,
        value_chain_codes=chains,
        object_model_codes=models,
        compliance_adjustments=[compliance_adjustment(a) for a in adjustments],
        inputs=priced_inputs(priced_choices, None),
    )


def _prefill(steps: Sequence[proposal_pb2.QuestionnaireSection], saved: Answers) -> None:
    for section in steps:
        for question in section.questions:
            value = saved.get(question.question_id, question.subject)
            if value is not None:
                question.default_value.CopyFrom(value)


def policy_answers(saved: model.RetentionPolicy) -> list[proposal_pb2.Answer]:
    """A retention policy as the answers that give it back (the inverse of `_policy`). Active
    periods the options do not list become a custom number of days; an archive period not in
    whole years is rounded up to the next year, the questionnaire's unit."""
    answers: list[proposal_pb2.Answer] = []

    def add(question_id: str, value: proposal_pb2.AnswerValue) -> None:
        answers.append(proposal_pb2.Answer(question_id=question_id, value=value))

    for prefix, rule, listed in (("staged", saved.staged_source, STAGED_ACTIVE_DAYS),
                                 ("analytics", saved.analytics, ANALYTICS_ACTIVE_DAYS)):
        active_days = retention_days(rule.active)
        if str(active_days) in listed:
            add(f"{prefix}_active_retention_days", _choice(str(active_days)))
        else:
            add(f"{prefix}_active_retention_days", _choice(CUSTOM))
            add(f"{prefix}_active_retention_custom_days",
                proposal_pb2.AnswerValue(integer=active_days))
        add(f"{prefix}_archival_enabled", proposal_pb2.AnswerValue(boolean=rule.archival_enabled))
        if rule.archive.unit is model.RetentionUnit.INDEFINITE:
            add(f"{prefix}_archive_retention_years", _choice(INDEFINITE))
        else:
            year = DAYS_PER_UNIT[model.RetentionUnit.YEARS.value]
            years = -(-retention_days(rule.archive) // year)
            add(f"{prefix}_archive_retention_years", _choice(str(years)))
    add("granularity", _choices(
        name for name in GRANULARITIES if getattr(saved.granularity, name)))
    return answers


def _kpis(catalog: CatalogFacts, kpi_codes: Sequence[str]) -> list[str]:
    if not kpi_codes:
        raise InvalidArgument.for_field("kpi_codes", "name the KPIs in the cart")
    codes: list[str] = []
    for i, text in enumerate(kpi_codes):
        code = text.strip().upper()
        if code not in catalog.kpis:
            raise InvalidArgument.for_field(
                f"kpi_codes[{i}]", f"unknown KPI {text!r}; GET /v1/kpis lists the catalog")
        if code not in codes:
            codes.append(code)
    return codes


def _compliance(answers: Answers) -> list[model.Compliance]:
    picked = answers.choices("compliance_requirements", [])
    try:
        return [model.Compliance[value.removeprefix("COMPLIANCE_REQUIREMENT_")] for value in picked]
    except KeyError as error:
        raise InvalidArgument.for_field(
            "answers.compliance_requirements", f"unknown regime {error.args[0]}") from None


# --- Answers → inputs ---------------------------------------------------------------------------


def _inputs(answers: Answers, kpis: list[str], models: list[str]) -> proposal_pb2.ProposalInputs:
    selected = answers.choices("kpi_codes", kpis)
    inputs = proposal_pb2.ProposalInputs(
        value_chain_codes=answers.choices("value_chain_codes", []),
        license_term_years=int(answers.choice(
            "license_term_years", str(defaults.DEFAULT_LICENSE_TERM_YEARS))),
        environment=proposal_pb2.EnvironmentSelection(
            environment=_enum_value(config_pb2.Environment, "ENVIRONMENT_", answers.choice(
                "environment", defaults.DEFAULT_ENVIRONMENT.value)),
            cloud_architect_hours_hundredths=answers.integer("cloud_architect_hours", 0) * 100,
        ),
        retention_policy=_policy(answers),
        compliance_requirements=[to_proto_enum(c) for c in _compliance(answers)],
        other_compliance=answers.text("other_compliance"),
        infrastructure=proposal_pb2.InfrastructureInputs(
            daily_volume_gb=answers.text("daily_volume_gb",
                                         str(defaults.DEFAULT_DAILY_VOLUME_GB)),
            concurrent_users=answers.integer("concurrent_users",
                                             defaults.DEFAULT_CONCURRENT_USERS),
            refresh_period=_enum_value(types_pb2.Period, "PERIOD_", answers.choice(
                "refresh_period", defaults.DEFAULT_REFRESH_PERIOD.value)),
            kpi_count=answers.integer("kpi_count", 0),
            queries_per_day=answers.integer("queries_per_day", 0),
        ),
        managed_services=proposal_pb2.ManagedServicesSelection(
            include_retainer=answers.boolean("include_retainer", False),
            additional_hours_hundredths=answers.integer("additional_support_hours", 0) * 100,
        ),
    )
    for code in selected:
        complexity = answers.choice("kpi_complexity", model.Complexity.OTB.value, code)
        kpi = config_pb2.SelectedKpi(
            kpi_code=code,
            complexity=_enum_value(config_pb2.ImplementationComplexity,
                                   "IMPLEMENTATION_COMPLEXITY_", complexity))
        if answers.get("kpi_tm_min_hours", code) or answers.get("kpi_tm_max_hours", code):
            kpi.tm_hours.CopyFrom(_hours(answers, "kpi_tm", code))
        inputs.kpis.append(kpi)
    for code in models:
        integration = proposal_pb2.DataIntegrationSelection(
            object_model_code=code,
            source_system=answers.text("source_system", "", code),
            integration_type=_enum_value(config_pb2.IntegrationType, "INTEGRATION_TYPE_",
                                         answers.choice("integration_type",
                                                        tables.RECOMMENDED_INTEGRATION.value,
                                                        code)))
        if answers.get("integration_tm_min_hours", code) or answers.get(
                "integration_tm_max_hours", code):
            integration.tm_hours.CopyFrom(_hours(answers, "integration_tm", code))
        inputs.integrations.append(integration)
    return inputs


def _hours(answers: Answers, prefix: str, subject: str) -> config_pb2.HoursRange:
    low = answers.integer(f"{prefix}_min_hours", 0, subject)
    high = answers.integer(f"{prefix}_max_hours", low, subject)
    return config_pb2.HoursRange(min_hours_hundredths=low * 100, max_hours_hundredths=high * 100)


def _policy(answers: Answers) -> types_pb2.DataRetentionPolicy:
    def rule(prefix: str, default: model.RetentionRule) -> model.RetentionRule:
        active = answers.choice(f"{prefix}_active_retention_days", str(default.active.count))
        days = (answers.integer(f"{prefix}_active_retention_custom_days", 0)
                if active == CUSTOM else int(active))
        archive = answers.choice(f"{prefix}_archive_retention_years", str(default.archive.count))
        return model.RetentionRule(
            active=model.Duration(days, model.RetentionUnit.DAYS),
            archival_enabled=answers.boolean(f"{prefix}_archival_enabled",
                                             default.archival_enabled),
            archive=(model.Duration(0, model.RetentionUnit.INDEFINITE) if archive == INDEFINITE
                     else model.Duration(int(archive), model.RetentionUnit.YEARS)),
        )

    kept = set(answers.choices("granularity", GRANULARITIES))
    return policy(model.RetentionPolicy(
        staged_source=rule("staged", DEFAULT_POLICY.staged_source),
        analytics=rule("analytics", DEFAULT_POLICY.analytics),
        granularity=model.Granularity(*(name in kept for name in GRANULARITIES)),
    ))


def _enum_value(wrapper: Any, prefix: str, value: str) -> Any:
    """The contract enum number of an option value ("AWS" or "ENVIRONMENT_AWS")."""
    name = value if value.startswith(prefix) else prefix + value
    try:
        return wrapper.Value(name)
    except ValueError:
        raise InvalidArgument.for_field(
            "answers", f"{value!r} is not one of the options of its question") from None


# --- The steps ----------------------------------------------------------------------------------


def _question(
    question_id: str,
    step: Step.ValueType,
    text: str,
    kind: Kind.ValueType,
    *,
    subject: str = "",
    help: str = "",
    options: Sequence[proposal_pb2.QuestionOption] = (),
    default: proposal_pb2.AnswerValue | None = None,
    recommended: proposal_pb2.AnswerValue | None = None,
    reason: str = "",
    required: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
    unit: str = "",
    visible_if: proposal_pb2.QuestionCondition | None = None,
    input_path: str = "",
) -> proposal_pb2.Question:
    question = proposal_pb2.Question(
        question_id=question_id, step=step, subject=subject, text=text, help=help,
        type=kind, options=options, recommendation_reason=reason, required=required,
        unit=unit, input_path=input_path or question_id)
    if default is not None:
        question.default_value.CopyFrom(default)
    if recommended is not None:
        question.recommended_value.CopyFrom(recommended)
    if minimum is not None:
        question.min_value = minimum
    if maximum is not None:
        question.max_value = maximum
    if visible_if is not None:
        question.visible_if.CopyFrom(visible_if)
    return question


def _choice(value: str) -> proposal_pb2.AnswerValue:
    return proposal_pb2.AnswerValue(choice=value)


def _choices(values: Iterable[str]) -> proposal_pb2.AnswerValue:
    return proposal_pb2.AnswerValue(choices=proposal_pb2.ChoiceList(values=list(values)))


def _when(question_id: str, *values: str, subject: str = "") -> proposal_pb2.QuestionCondition:
    return proposal_pb2.QuestionCondition(question_id=question_id, subject=subject,
                                          values=list(values))


def _section(step: Step.ValueType, title: str, description: str,
             questions: Sequence[proposal_pb2.Question]) -> proposal_pb2.QuestionnaireSection:
    return proposal_pb2.QuestionnaireSection(step=step, title=title,
                                             description=description, questions=questions)


def _kpi_step(catalog: CatalogFacts, kpis: list[str]) -> proposal_pb2.QuestionnaireSection:
    return _section(Step.QUESTIONNAIRE_STEP_KPI_SELECTION, "KPI Selection",
                    "The KPIs in the cart; the object models and value chains they need follow.", [
        _question("kpi_codes", Step.QUESTIONNAIRE_STEP_KPI_SELECTION,
                  "Which of the selected KPIs should the proposal cover?",
                  Kind.QUESTION_TYPE_MULTIPLE_CHOICE, required=True, input_path="kpis",
                  options=[proposal_pb2.QuestionOption(
                      value=code, label=catalog.kpis[code].name,
                      description=f"{catalog.kpis[code].value_chain_code} value chain")
                      for code in kpis],
                  default=_choices(kpis)),
    ])


def _licensing_step(catalog: CatalogFacts, chains: list[str]) -> proposal_pb2.QuestionnaireSection:
    step = Step.QUESTIONNAIRE_STEP_LICENSING
    return _section(step, "Licensing",
                    "Licences are sold per value chain: unlimited KPIs within each.", [
        _question("value_chain_codes", step, "Which value chains do you need?",
                  Kind.QUESTION_TYPE_MULTIPLE_CHOICE, required=True,
                  options=[proposal_pb2.QuestionOption(value=code, label=name,
                                                       recommended=code in chains)
                           for code, name in catalog.value_chain_names.items()],
                  default=_choices(chains), recommended=_choices(chains),
                  reason="Auto-detected from the KPI selection"),
        _question("license_term_years", step, "What license term would you prefer?",
                  Kind.QUESTION_TYPE_SINGLE_CHOICE, required=True,
                  options=[proposal_pb2.QuestionOption(
                      value=str(term),
                      label=f"{term} Year{'s' if term > 1 else ''} "
                            f"({price.annual_per_chain.format()}/year per value chain)",
                      price=money(price.annual_per_chain),
                      note=f"Save {price.discount_percent}%" if price.discount_percent else "")
                      for term, price in tables.LICENCE_PRICES.items()],
                  default=_choice(str(defaults.DEFAULT_LICENSE_TERM_YEARS)), unit="years"),
    ])


def _integration_step(catalog: CatalogFacts,
                      models: list[str]) -> proposal_pb2.QuestionnaireSection:
    step = Step.QUESTIONNAIRE_STEP_DATA_SOURCE_INTEGRATION
    options = [
        proposal_pb2.QuestionOption(
            value=kind.value, label=price.label,
            price=money(price.charge) if price.kind is model.PricingKind.FIXED else None,
            hourly_rate=(money(tables.ARCHITECT_RATE)
                         if price.kind is model.PricingKind.TIME_AND_MATERIALS else None),
            recommended=kind is tables.RECOMMENDED_INTEGRATION,
            note=("T&M" if price.kind is model.PricingKind.TIME_AND_MATERIALS
                  else f"{format_hours(price.hours_hundredths)} h"))
        for kind, price in tables.INTEGRATION_PRICES.items()
    ]
    tm = [k.value for k, p in tables.INTEGRATION_PRICES.items()
          if p.kind is model.PricingKind.TIME_AND_MATERIALS]
    default_tm = tables.INTEGRATION_PRICES[model.IntegrationType.STREAMING_API_NON_ARCHITECTED]
    assert default_tm.tm_default is not None
    questions: list[proposal_pb2.Question] = []
    for code in models:
        name = catalog.object_model_names.get(code, code)
        path = f"integrations[object_model_code={code}]"
        questions += [
            _question("source_system", step, f"{name}: which system does the data come from?",
                      Kind.QUESTION_TYPE_TEXT, subject=code, help='e.g. "Salesforce CRM"',
                      input_path=f"{path}.source_system"),
            _question("integration_type", step, f"{name}: integration method",
                      Kind.QUESTION_TYPE_SINGLE_CHOICE, subject=code, options=options,
                      required=True, default=_choice(tables.RECOMMENDED_INTEGRATION.value),
                      recommended=_choice(tables.RECOMMENDED_INTEGRATION.value),
                      reason="Most sources need transforming from one system",
                      input_path=f"{path}.integration_type"),
            _question("integration_tm_min_hours", step, f"{name}: lowest estimate (hours)",
                      Kind.QUESTION_TYPE_INTEGER, subject=code, unit="hours", minimum=0,
                      default=proposal_pb2.AnswerValue(
                          integer=default_tm.tm_default.min_hundredths // 100),
                      visible_if=_when("integration_type", *tm, subject=code),
                      input_path=f"{path}.tm_hours.min_hours_hundredths"),
            _question("integration_tm_max_hours", step, f"{name}: highest estimate (hours)",
                      Kind.QUESTION_TYPE_INTEGER, subject=code, unit="hours", minimum=0,
                      default=proposal_pb2.AnswerValue(
                          integer=default_tm.tm_default.max_hundredths // 100),
                      visible_if=_when("integration_type", *tm, subject=code),
                      input_path=f"{path}.tm_hours.max_hours_hundredths"),
        ]
    return _section(step, "Data Source Integration",
                    "For each object model the KPIs need: where its data comes from and how it "
                    "is integrated.", questions)


def _kpi_implementation_step(catalog: CatalogFacts,
                             kpis: list[str]) -> proposal_pb2.QuestionnaireSection:
    step = Step.QUESTIONNAIRE_STEP_KPI_IMPLEMENTATION
    options = [
        proposal_pb2.QuestionOption(
            value=kind.value, label=price.label,
            price=money(price.charge) if price.kind is model.PricingKind.FIXED else None,
            hourly_rate=(money(tables.ARCHITECT_RATE)
                         if price.kind is model.PricingKind.TIME_AND_MATERIALS else None),
            recommended=kind is model.Complexity.OTB)
        for kind, price in tables.KPI_PRICES.items()
    ]
    dynamic = tables.KPI_PRICES[model.Complexity.DYNAMIC_RBAC].tm_default
    assert dynamic is not None
    questions: list[proposal_pb2.Question] = []
    for code in kpis:
        name = catalog.kpis[code].name
        path = f"kpis[kpi_code={code}]"
        questions += [
            _question("kpi_complexity", step, f"{name}: implementation complexity",
                      Kind.QUESTION_TYPE_SINGLE_CHOICE, subject=code, options=options,
                      required=True, default=_choice(model.Complexity.OTB.value),
                      input_path=f"{path}.complexity"),
            _question("kpi_tm_min_hours", step, f"{name}: lowest estimate (hours)",
                      Kind.QUESTION_TYPE_INTEGER, subject=code, unit="hours", minimum=0,
                      default=proposal_pb2.AnswerValue(integer=dynamic.min_hundredths // 100),
                      visible_if=_when("kpi_complexity", model.Complexity.DYNAMIC_RBAC.value,
                                       subject=code),
                      input_path=f"{path}.tm_hours.min_hours_hundredths"),
            _question("kpi_tm_max_hours", step, f"{name}: highest estimate (hours)",
                      Kind.QUESTION_TYPE_INTEGER, subject=code, unit="hours", minimum=0,
                      default=proposal_pb2.AnswerValue(integer=dynamic.max_hundredths // 100),
                      visible_if=_when("kpi_complexity", model.Complexity.DYNAMIC_RBAC.value,
                                       subject=code),
                      input_path=f"{path}.tm_hours.max_hours_hundredths"),
        ]
    return _section(step, "KPI Implementation Complexity",
                    "For each selected KPI: how much work implementing it takes.", questions)


def _environment_step() -> proposal_pb2.QuestionnaireSection:
    step = Step.QUESTIONNAIRE_STEP_ENVIRONMENT_SETUP
    options = [
        proposal_pb2.QuestionOption(
            value=env.value, label=price.label,
            description=("T&M - Cloud Architect required" if price.setup_required
                         else "We have an existing environment"),
            hourly_rate=money(tables.ARCHITECT_RATE) if price.setup_required else None,
            price=None if price.setup_required else money(Money.zero()))
        for env, price in tables.ENVIRONMENTS.items()
    ]
    hours_range = tables.CLOUD_ARCHITECT_HOURS
    return _section(step, "Environment Setup", "Where the Analytics Engine will run.", [
        _question("environment", step, "Where will the Analytics Engine run?",
                  Kind.QUESTION_TYPE_SINGLE_CHOICE, options=options, required=True,
                  default=_choice(defaults.DEFAULT_ENVIRONMENT.value),
                  input_path="environment.environment"),
        _question("cloud_architect_hours", step, "Estimated cloud architect hours",
                  Kind.QUESTION_TYPE_INTEGER, unit="hours",
                  help="An access specialist is included at no extra charge.",
                  minimum=hours_range.min_hundredths // 100,
                  maximum=hours_range.max_hundredths // 100,
                  default=proposal_pb2.AnswerValue(
                      integer=tables.DEFAULT_CLOUD_ARCHITECT_HOURS // 100),
                  visible_if=_when("environment", *(e.value for e in SETUP_ENVIRONMENTS)),
                  input_path="environment.cloud_architect_hours_hundredths"),
    ])


def _retention_step(compliance: list[model.Compliance],
                    minimum_years: int) -> proposal_pb2.QuestionnaireSection:
    step = Step.QUESTIONNAIRE_STEP_DATA_RETENTION
    strict = [c for c in compliance if tables.COMPLIANCE_RULES[c].minimum_years == minimum_years]
    reason = (f"{tables.COMPLIANCE_RULES[strict[0]].label} requires {minimum_years} years"
              if minimum_years else "")

    def archive_question(prefix: str, label: str, options: dict[str, str],
                         default: model.RetentionRule) -> proposal_pb2.Question:
        recommended = str(default.archive.count)
        if minimum_years > default.archive.count:
            recommended = min((v for v in options if v != INDEFINITE and int(v) >= minimum_years),
                              key=int, default=INDEFINITE)
        return _question(
            f"{prefix}_archive_retention_years", step,
            f"How long should archived {label} be retained?", Kind.QUESTION_TYPE_SINGLE_CHOICE,
            options=[proposal_pb2.QuestionOption(
                value=v, label="Indefinitely" if v == INDEFINITE else f"{v} years",
                note=note, recommended=v == recommended) for v, note in options.items()],
            default=_choice(str(default.archive.count)), recommended=_choice(recommended),
            reason=reason or "Common for compliance", unit="years",
            visible_if=_when(f"{prefix}_archival_enabled", "true"),
            input_path=f"retention_policy.{prefix}_data.archive_retention")

    def active_questions(prefix: str, label: str, options: dict[str, str],
                         default: int, recommended: str) -> list[proposal_pb2.Question]:
        path = f"retention_policy.{prefix}_data.active_retention"
        return [
            _question(f"{prefix}_active_retention_days", step,
                      f"How long do you need to retain {label} in the active database?",
                      Kind.QUESTION_TYPE_SINGLE_CHOICE, unit="days", input_path=path,
                      options=[*(proposal_pb2.QuestionOption(value=v, label=f"{v} days",
                                                             note=n, recommended=v == recommended)
                                 for v, n in options.items()),
                               proposal_pb2.QuestionOption(value=CUSTOM, label="Custom")],
                      default=_choice(str(default)), recommended=_choice(recommended)),
            _question(f"{prefix}_active_retention_custom_days", step, "Custom: days",
                      Kind.QUESTION_TYPE_INTEGER, unit="days", minimum=1, input_path=path,
                      visible_if=_when(f"{prefix}_active_retention_days", CUSTOM)),
            _question(f"{prefix}_archival_enabled", step,
                      f"Do you want to archive {label} after this period?",
                      Kind.QUESTION_TYPE_BOOLEAN, help="Yes: archive to cold storage. No: delete "
                      "permanently.", default=proposal_pb2.AnswerValue(boolean=True),
                      input_path=f"retention_policy.{prefix}_data.archival_enabled"),
        ]

    staged, analytics = DEFAULT_POLICY.staged_source, DEFAULT_POLICY.analytics
    questions = [
        *active_questions("staged", "raw source data", STAGED_ACTIVE_DAYS,
                          staged.active.count, "30"),
        archive_question("staged", "source data", STAGED_ARCHIVE_YEARS, staged),
        *active_questions("analytics", "calculated analytics data", ANALYTICS_ACTIVE_DAYS,
                          analytics.active.count, "365"),
        archive_question("analytics", "analytics", ANALYTICS_ARCHIVE_YEARS, analytics),
        _question("granularity", step, "Which levels of data granularity do you need to retain?",
                  Kind.QUESTION_TYPE_MULTIPLE_CHOICE,
                  help="Lower granularity = less storage cost, but less detail for analysis",
                  options=[proposal_pb2.QuestionOption(value=v, label=label, note=note,
                                                       recommended=bool(note) and "largest"
                                                       not in note)
                           for v, (label, note) in GRANULARITIES.items()],
                  default=_choices(GRANULARITIES),
                  recommended=_choices(["hourly_aggregates", "daily_aggregates",
                                        "monthly_aggregates"]),
                  input_path="retention_policy.granularity"),
        _question("compliance_requirements", step,
                  "Do you have specific compliance or regulatory requirements?",
                  Kind.QUESTION_TYPE_MULTIPLE_CHOICE,
                  help="Retention periods are adjusted automatically to meet them.",
                  options=[proposal_pb2.QuestionOption(
                      value=c.value, label=rule.label,
                      description=rule.guidance,
                      note=f"{rule.minimum_years} years" if rule.minimum_years else "")
                      for c, rule in tables.COMPLIANCE_RULES.items()],
                  default=_choices([])),
        _question("other_compliance", step, "Industry-specific regime", Kind.QUESTION_TYPE_TEXT,
                  visible_if=_when("compliance_requirements", model.Compliance.OTHER.value)),
    ]
    return _section(step, "Data Retention Policies",
                    "How long staged source data and analytics data stay active, and archived.",
                    questions)


def _infrastructure_step(kpi_count: int) -> proposal_pb2.QuestionnaireSection:
    step = Step.QUESTIONNAIRE_STEP_INFRASTRUCTURE
    path = "infrastructure"
    return _section(step, "Infrastructure Estimation",
                    "Expected volumes size the compute, storage and network estimate.", [
        _question("daily_volume_gb", step, "Daily data ingestion", Kind.QUESTION_TYPE_DECIMAL,
                  unit="GB/day", minimum=0, input_path=f"{path}.daily_volume_gb",
                  default=proposal_pb2.AnswerValue(
                      decimal=str(defaults.DEFAULT_DAILY_VOLUME_GB))),
        _question("concurrent_users", step, "Number of concurrent users",
                  Kind.QUESTION_TYPE_INTEGER, minimum=1, unit="users",
                  input_path=f"{path}.concurrent_users",
                  default=proposal_pb2.AnswerValue(integer=defaults.DEFAULT_CONCURRENT_USERS)),
        _question("refresh_period", step, "Refresh period", Kind.QUESTION_TYPE_SINGLE_CHOICE,
                  options=[proposal_pb2.QuestionOption(value=p.value, label=p.value.title())
                           for p in model.RefreshPeriod],
                  default=_choice(defaults.DEFAULT_REFRESH_PERIOD.value),
                  input_path=f"{path}.refresh_period"),
        _question("kpi_count", step, "Number of KPIs", Kind.QUESTION_TYPE_INTEGER, minimum=0,
                  help="Auto-filled from the selection", input_path=f"{path}.kpi_count",
                  default=proposal_pb2.AnswerValue(integer=kpi_count)),
        _question("queries_per_day", step, "Expected one-time queries per day",
                  Kind.QUESTION_TYPE_INTEGER, minimum=0, unit="queries/day",
                  input_path=f"{path}.queries_per_day",
                  default=proposal_pb2.AnswerValue(integer=0)),
    ])


def _managed_services_step() -> proposal_pb2.QuestionnaireSection:
    step = Step.QUESTIONNAIRE_STEP_MANAGED_SERVICES
    return _section(step, "Managed Services", "Support after go-live.", [
        _question("include_retainer", step, "Would you like managed services support?",
                  Kind.QUESTION_TYPE_BOOLEAN,
                  help=f"Yes: include the {tables.RETAINER.format()} annual retainer "
                       f"({format_hours(tables.RETAINER_HOURS)} hours at "
                       f"{tables.SUPPORT_RATE.format()}/hr). No: support handled internally.",
                  default=proposal_pb2.AnswerValue(boolean=False),
                  input_path="managed_services.include_retainer"),
        _question("additional_support_hours", step,
                  "Estimated additional hours needed per year?", Kind.QUESTION_TYPE_INTEGER,
                  unit="hours/year", minimum=0,
                  help=f"0-50 hours: covered by the retainer; beyond it "
                       f"{tables.SUPPORT_RATE.format()}/hr (50-100 hours: $3,750-7,500).",
                  default=proposal_pb2.AnswerValue(integer=0),
                  visible_if=_when("include_retainer", "true"),
                  input_path="managed_services.additional_hours_hundredths"),
    ])
