"""Checks on a client configuration: every problem is collected and reported at once, each as a
field violation naming the field in the request (`client.selected_kpis[2].kpi_code`)."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Collection, Mapping, Sequence

from services.catalog.domain import KpiDefinition
from services.config.clients.model import (
    LICENSE_TERMS,
    ClientSpec,
    Complexity,
    Compliance,
    HoursRange,
)
from services.errors import FieldViolation, InvalidArgument

CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_NAME_LENGTH = 200


def suggestion(name: str, known: Collection[str]) -> str:
    """'; did you mean X?' when a known name is close, else ''."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def raise_if_any(
    violations: list[FieldViolation], what: str, details: Sequence[object] = ()
) -> None:
    if violations:
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        raise InvalidArgument(
            f"{what}: {first.field}: {first.description}{more}", violations, details
        )


def hours_violations(hours: HoursRange | None, field: str) -> list[FieldViolation]:
    if hours is None:
        return []
    problems = []
    if hours.min_hundredths < 0:
        problems.append(FieldViolation(f"{field}.min_hours_hundredths", "must not be negative"))
    if hours.max_hundredths < hours.min_hundredths:
        problems.append(FieldViolation(
            f"{field}.max_hours_hundredths", "must not be below min_hours_hundredths"))
    return problems


def check_client(
    spec: ClientSpec,
    catalog_kpis: Mapping[str, KpiDefinition],
    custom_kpi_codes: Collection[str],
    *,
    prefix: str = "client",
) -> None:
    """Raises InvalidArgument listing every problem of `spec`. Selected KPIs may be catalog KPIs
    or the client's own custom KPIs."""
    violations: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        violations.append(FieldViolation(f"{prefix}.{field}", description))

    if not CLIENT_ID.match(spec.client_id):
        bad("client_id", "use 1-63 lowercase letters, digits and '-', starting with a letter or "
                         "digit (e.g. 'acme')")
    if not spec.name.strip():
        bad("name", "is required")
    elif len(spec.name) > MAX_NAME_LENGTH:
        bad("name", f"must be at most {MAX_NAME_LENGTH} characters")
    if spec.license_term_years not in (0, *LICENSE_TERMS):
        bad("license_term_years", "must be 1, 3 or 5 years (0 when not decided)")
    if spec.time_zone:
        try:
            zoneinfo.ZoneInfo(spec.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            bad("time_zone", f"{spec.time_zone!r} is not an IANA time zone (e.g. 'Europe/Berlin')")
    if spec.currency_code and not CURRENCY.match(spec.currency_code):
        bad("currency_code", "must be an ISO 4217 code such as 'USD'")
    if Compliance.OTHER in spec.compliance and not spec.other_compliance.strip():
        bad("other_compliance", "describe the regime when COMPLIANCE_REQUIREMENT_OTHER is chosen")

    known = {*catalog_kpis, *custom_kpi_codes}
    seen: set[str] = set()
    for index, selected in enumerate(spec.selected_kpis):
        field = f"selected_kpis[{index}]"
        code = selected.kpi_code
        if not code:
            bad(f"{field}.kpi_code", "is required")
        elif code not in known:
            bad(f"{field}.kpi_code", f"unknown KPI {code!r}{suggestion(code, known)}; "
                                     "GET /v1/kpis lists the catalog")
        elif code in seen:
            bad(f"{field}.kpi_code", f"{code} is selected twice")
        seen.add(code)
        if selected.tm_hours is not None and not selected.complexity.is_time_and_materials:
            bad(f"{field}.tm_hours", "only Dynamic RBAC KPIs are priced by time and materials")
        violations.extend(
            FieldViolation(f"{prefix}.{v.field}", v.description)
            for v in hours_violations(selected.tm_hours, f"{field}.tm_hours")
        )
        if selected.complexity in (Complexity.OTB, Complexity.CUSTOM_BASIC) \
                and selected.rbac_attributes:
            bad(f"{field}.rbac_attributes", "only RBAC and Dynamic RBAC KPIs filter rows")
    raise_if_any(violations, "the client configuration is invalid")


def value_chains(
    selected_codes: Collection[str],
    catalog_kpis: Mapping[str, KpiDefinition],
    custom_base_codes: Mapping[str, str],
) -> tuple[str, ...]:
    """Value chains implied by KPI codes: a catalog KPI's own, a custom variant's base KPI's."""
    chains = set()
    for code in selected_codes:
        definition = catalog_kpis.get(code) or catalog_kpis.get(custom_base_codes.get(code, ""))
        if definition is not None:
            chains.add(definition.value_chain_code)
    return tuple(sorted(chains))
