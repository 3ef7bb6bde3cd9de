"""The proposal document (SPEC §7 "Proposal Document Structure") as Markdown and as HTML.

The content is built once as a list of blocks; each format only renders blocks, so the Markdown and
the HTML always say the same thing.
"""

from __future__ import annotations

import datetime
import html
from dataclasses import dataclass
from decimal import Decimal

from services.config.pricing.model import PricingKind, RetentionUnit
from services.config.pricing.money import Money, format_hours
from services.config.pricing.proposal import PricedProposal
from services.config.pricing.retention import days


@dataclass(frozen=True)
class Header:
    client_name: str
    issue_time: datetime.datetime
    valid_until: datetime.datetime
    version: int


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Lines:
    """Lines of "**label:** value" (or plain text when the label is empty)."""

    lines: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]
    numbered: bool = False


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Rule:
    pass


Block = Heading | Lines | Bullets | Table | Rule


def blocks(proposal: PricedProposal, header: Header) -> list[Block]:
    lic = proposal.licensing
    impl = proposal.implementation
    infra = proposal.infrastructure
    managed = proposal.managed_services
    totals = proposal.totals
    valid_until = _date(header.valid_until)
    chains = ", ".join(lic.value_chain_codes)
    out: list[Block] = [
        Heading(1, "Analytics Engine Service Proposal"),
        Lines((("Client", header.client_name), ("Date", _date(header.issue_time)),
               ("Valid Until", valid_until), ("Version", str(header.version)))),
        Rule(),
        Heading(2, "Executive Summary"),
        Lines((("", "This proposal outlines the licensing, implementation, infrastructure, and "
                    "support costs for deploying the Analytics Engine platform."),)),
        Rule(),
        Heading(2, "1. Licensing"),
        Lines((
            ("Value Chains", f"{chains} ({len(lic.value_chain_codes)} "
                             f"chain{'s' if len(lic.value_chain_codes) != 1 else ''})"),
            ("License Term", f"{lic.term_years} year{'s' if lic.term_years != 1 else ''}"),
            ("Annual Cost", f"{lic.annual_total.format()}/year "
                            f"({lic.annual_per_chain.format()} per chain)"),
            (f"Total {lic.term_years}-Year Cost", lic.term_total.format()),
        )),
        Lines((("Included", ""),)),
        Bullets(("Unlimited KPIs within selected value chains", "Platform access and updates",
                 "Standard business hours support")),
        Rule(),
        Heading(2, "2. Implementation - Statement of Work"),
        Heading(3, "Data Source Integration"),
        Table(("Object Model", "Source System", "Integration Type", "Cost"), tuple(
            (line.object_model_name, line.source_system or "TBD", line.label,
             _fixed_or_tm(line.pricing, line.cost.format()))
            for line in impl.data_integration)),
        Lines((("Subtotal Data Integration", impl.data_integration_subtotal.format()),)),
        Heading(3, "KPI Implementation"),
        Table(("KPI Code", "KPI Name", "Complexity", "Cost"), tuple(
            (line.kpi_code, line.kpi_name, line.label,
             _fixed_or_tm(line.pricing, line.cost.format()))
            for line in impl.kpi_implementation)),
        Lines((("Subtotal KPI Implementation", impl.kpi_implementation_subtotal.format()),)),
        Heading(3, "Environment Setup"),
        Lines(_environment_lines(proposal)),
    ]
    if impl.tm_items:
        out += [
            Heading(3, "Time & Materials (T&M) Items"),
            Table(("Item", "Estimated Hours", "Rate", "Estimated Cost"), tuple(
                (item.description, item.hours.format(), f"{item.hourly_rate.format()}/hr",
                 item.estimated_cost.format())
                for item in impl.tm_items)),
            Lines((("T&M Range", impl.tm_cost_range.format()),)),
        ]
    compute, storage, network = infra.compute, infra.storage, infra.network
    out += [
        Lines((("Total Implementation Cost", impl.total.format()),)),
        Rule(),
        Heading(2, "3. Infrastructure Costs (Annual)"),
        Heading(3, "Compute"),
        Bullets(tuple(
            f"{label}: {group.instance_count} × {group.instance_type} = "
            f"{group.monthly_cost.format()}/month"
            for label, group in (("API Gateway", compute.api_gateway),
                                 ("Business Services", compute.business_services),
                                 ("Backend Services", compute.backend_services)))),
        Lines((("Subtotal", _monthly_annual(compute.monthly)),)),
        Heading(3, "Storage"),
        Bullets((
            f"Active Database: {_gb(storage.active_database.storage_gb)} GB × "
            f"${storage.active_database.price_per_gb_month}/GB = "
            f"{storage.active_database.monthly_cost.format()}/month",
            f"Archived Data: {_gb(storage.archived_data.storage_gb)} GB × "
            f"${storage.archived_data.price_per_gb_month}/GB = "
            f"{storage.archived_data.monthly_cost.format()}/month",
            f"Redis: {storage.redis_instance_type} = {storage.redis_monthly_cost.format()}/month",
        )),
        Lines((("Subtotal", _monthly_annual(storage.monthly)),)),
        Heading(3, "Network"),
        Bullets((f"Data Transfer: {_gb(network.data_transfer_gb)} GB × ${network.price_per_gb}/GB"
                 f" = {network.monthly.format()}/month",)),
        Lines((("Subtotal", _monthly_annual(network.monthly)),)),
        Lines((("Total Annual Infrastructure", infra.annual_total.format()),)),
        Heading(3, "Data Retention"),
        Bullets(_retention_lines(proposal)),
        Rule(),
        Heading(2, "4. Managed Services (Annual)"),
    ]
    if managed.included:
        out.append(Lines((
            ("Support Retainer", f"{managed.retainer.format()}/year "
                                 f"({format_hours(managed.retainer_hours_hundredths)} hours at "
                                 f"{managed.hourly_rate.format()}/hr)"),
            ("Estimated Additional Hours",
             f"{format_hours(managed.additional_hours_hundredths)} hours = "
             f"{managed.additional_cost.format()}"),
            ("Total Managed Services", f"{managed.annual_total.format()}/year"),
        )))
    else:
        out.append(Lines((("Managed Services", "Not included (support handled internally)"),)))
    recurring_years = (
        f"Years 2-{totals.term_years} (Annual)" if totals.term_years > 2
        else "Year 2 (Annual)" if totals.term_years == 2 else "Following Years (Annual)"
    )
    out += [
        Rule(),
        Heading(2, "5. Total Cost Summary"),
        Heading(3, "Year 1"),
        Bullets((f"Licensing: {lic.annual_total.format()}",
                 f"Implementation (One-time): {impl.total.format()}",
                 f"Infrastructure: {infra.annual_total.format()}",
                 f"Managed Services: {managed.annual_total.format()}")),
        Lines((("Year 1 Total", totals.year1.format()),)),
        Heading(3, recurring_years),
        Bullets((f"Licensing: {lic.annual_total.format()}",
                 f"Infrastructure: {infra.annual_total.format()}",
                 f"Managed Services: {managed.annual_total.format()}")),
        Lines((("Annual Cost", totals.yearly_recurring.format()),)),
        Heading(3, f"{totals.term_years}-Year Total"),
        Lines((("Total Investment", totals.term_total.format()),)),
        Rule(),
        Heading(2, "6. Resource Schedule"),
        Heading(3, "Integration Team"),
        Bullets(tuple(
            f"**{r.role_label}:** {r.name} - "
            + ("As needed for T&M" if r.as_needed else _weeks(r.start_week, r.end_week))
            for r in proposal.resources)),
        Heading(3, "Timeline"),
        Bullets(tuple(f"{p.label}: {_weeks(p.start_week, p.end_week)}"
                      for p in proposal.timeline)),
        Rule(),
        Heading(2, "7. Terms & Conditions"),
        Lines((("", "Fixed-price items are billed on completion; time-and-materials items are "
                    "billed monthly at the rates shown, and the ranges above are estimates. "
                    "Infrastructure figures are estimates of the cloud provider's charges."),)),
        Rule(),
        Heading(2, "8. Next Steps"),
        Bullets(("Review and approve proposal", "Sign license agreement", "Kick-off meeting",
                 "Begin implementation"), numbered=True),
        Lines((("Proposal Valid Until", valid_until),)),
    ]
    return out


def markdown(proposal: PricedProposal, header: Header) -> str:
    parts: list[str] = []
    for block in blocks(proposal, header):
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Lines):
            parts.append("\n".join(
                f"**{label}:** {value}".rstrip() if label else value
                for label, value in block.lines).replace("\n", "  \n"))
        elif isinstance(block, Bullets):
            parts.append("\n".join(
                f"{i}. {item}" if block.numbered else f"- {item}"
                for i, item in enumerate(block.items, 1)))
        elif isinstance(block, Table):
            rows = [block.headers, tuple("-" * len(h) for h in block.headers), *block.rows]
            parts.append("\n".join(
                "| " + " | ".join(_cell(c) for c in row) + " |" for row in rows))
        else:
            parts.append("---")
    return "\n\n".join(parts) + "\n"


def html_page(proposal: PricedProposal, header: Header) -> str:
    body: list[str] = []
    for block in blocks(proposal, header):
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Lines):
            body.append("<p>" + "<br>\n".join(
                (f"<strong>{html.escape(label)}:</strong> {html.escape(value)}".rstrip()
                 if label else html.escape(value))
                for label, value in block.lines) + "</p>")
        elif isinstance(block, Bullets):
            tag = "ol" if block.numbered else "ul"
            body.append(f"<{tag}>" + "".join(
                f"<li>{_inline_html(item)}</li>" for item in block.items) + f"</{tag}>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            body.append("<hr>")
    title = html.escape(f"Analytics Engine Service Proposal - {header.client_name}")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.5;"
    "color:#1a1a1a}table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;"
    "padding:.3rem .6rem;text-align:left}th{background:#f2f2f2}hr{border:0;"
    "border-top:1px solid #ddd;margin:2rem 0}@media print{body{margin:0}}"
)


def _environment_lines(proposal: PricedProposal) -> tuple[tuple[str, str], ...]:
    setup = proposal.implementation.environment_setup
    lines = [("Platform", setup.platform_label),
             ("Setup Required", "Yes" if setup.setup_required else "No")]
    if setup.setup_required:
        lines.append(("Cloud Architect",
                      f"{format_hours(setup.cloud_architect_hours_hundredths)} hours at "
                      f"{setup.hourly_rate.format()}/hr = {setup.cost.format()}"))
    if setup.access_specialist_included:
        lines.append(("Access Specialist", "Included"))
    lines.append(("Subtotal Environment", proposal.implementation.environment_subtotal.format()))
    return tuple(lines)


def _retention_lines(proposal: PricedProposal) -> tuple[str, ...]:
    policy = proposal.effective_retention_policy
    lines = []
    for label, rule in (("Staged source data", policy.staged_source),
                        ("Analytics data", policy.analytics)):
        archive = (f"then archived {rule.archive.describe()}" if rule.archival_enabled
                   else "then deleted")
        in_days = "" if rule.active.unit is RetentionUnit.DAYS else f" ({days(rule.active)} days)"
        lines.append(f"{label}: {rule.active.describe()} active{in_days}, {archive}")
    lines += [a.message[:1].upper() + a.message[1:] for a in proposal.compliance_adjustments]
    return tuple(lines)


def _fixed_or_tm(kind: PricingKind, fixed: str) -> str:
    return "T&M" if kind is PricingKind.TIME_AND_MATERIALS else fixed


def _monthly_annual(monthly: Money) -> str:
    return f"{monthly.format()}/month = {monthly.times(12).format()}/year"


def _gb(value: Decimal) -> str:
    text = f"{value:f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    whole, _, fraction = text.partition(".")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "")


def _weeks(start: int, end: int) -> str:
    return f"Week {start}" if start == end else f"Weeks {start}-{end}"


def _date(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%B %-d, %Y")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _inline_html(text: str) -> str:
    """Bullets may start with one "**label:**"; everything else is escaped."""
    if text.startswith("**") and ":**" in text:
        label, _, rest = text[2:].partition(":**")
        return f"<strong>{html.escape(label)}:</strong>{html.escape(rest)}"
    return html.escape(text)
