"""ProposalService: access rules, then protobuf ↔ pricing, store and documents."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from analytics.config.v1 import proposal_pb2, proposal_pb2_grpc
from analytics.type.v1 import types_pb2

from services.config.clients import store as clients_store
from services.config.pricing.proposal import PricedProposal, price_proposal
from services.config.pricing.tables import VALIDITY_DAYS
from services.config.proposals import access, document, store
from services.config.proposals.catalog import (
    Catalog,
    CatalogFacts,
    CustomKpiFacts,
    with_custom_kpis,
)
from services.config.proposals.choices import choices_from_inputs
from services.config.proposals.client_defaults import (
    client_answers,
    selected_kpi_codes,
    with_client_defaults,
    with_data_sources,
)
from services.config.proposals.messages import Issue, service_proposal
from services.config.proposals.pdf import markdown_to_pdf
from services.config.proposals.proto_values import prefixed
from services.config.proposals.questionnaire import questionnaire
from services.errors import InvalidArgument, NotFound

Context = Any
Clock = Callable[[], datetime.datetime]

_FORMATS = {
    proposal_pb2.DOCUMENT_FORMAT_UNSPECIFIED: ("text/markdown; charset=utf-8", "md"),
    proposal_pb2.DOCUMENT_FORMAT_MARKDOWN: ("text/markdown; charset=utf-8", "md"),
    proposal_pb2.DOCUMENT_FORMAT_HTML: ("text/html; charset=utf-8", "html"),
    proposal_pb2.DOCUMENT_FORMAT_PDF: ("application/pdf", "pdf"),
}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class ProposalServicer(proposal_pb2_grpc.ProposalServiceServicer):
    def __init__(self, db: store.Database, catalog: Catalog, clock: Clock = _now) -> None:
        self._db = db
        self._catalog = catalog
        self._clock = clock

    async def GetQuestionnaire(
        self, request: proposal_pb2.GetQuestionnaireRequest, context: Context
    ) -> proposal_pb2.GetQuestionnaireResponse:
        access.caller_who_may_read()
        kpi_codes = list(request.kpi_codes)
        if not request.client_id.strip():
            return questionnaire(await self._catalog.facts(), kpi_codes, request.answers)
        client_id = access.client_to_act_for(request.client_id, "client_id")
        client = await clients_store.get_client(self._db, client_id)
        sources = await clients_store.list_data_sources(self._db, client_id)
        return questionnaire(
            await self._facts_for(client_id), kpi_codes or selected_kpi_codes(client),
            request.answers, saved=client_answers(client, sources))

    async def CreateProposal(
        self, request: proposal_pb2.CreateProposalRequest, context: Context
    ) -> proposal_pb2.CreateProposalResponse:
        caller = access.caller_who_may_create()
        client_id = access.client_to_act_for(request.inputs.client_id, "inputs.client_id")
        inputs = with_data_sources(
            with_client_defaults(
                request.inputs, await clients_store.get_client(self._db, client_id)),
            await clients_store.list_data_sources(self._db, client_id))
        choices = choices_from_inputs(inputs, await self._facts_for(client_id))
        try:
            priced = price_proposal(choices)
        except InvalidArgument as error:
            raise prefixed(error, "inputs.") from error
        issue_time = (
            inputs.issue_time.ToDatetime(tzinfo=datetime.UTC) if inputs.HasField("issue_time")
            else self._clock()
        )

        def issue(proposal_id: str, version: int) -> Issue:
            return Issue(
                proposal_id=proposal_id, client_id=client_id,
                client_name=inputs.client_name.strip() or client_id, version=version,
                issue_time=issue_time,
                valid_until=issue_time + datetime.timedelta(days=VALIDITY_DAYS),
                created_by=caller.subject,
            )

        if request.validate_only:
            estimate = issue("", 0)
            return proposal_pb2.CreateProposalResponse(
                proposal=service_proposal(priced, estimate, _markdown(priced, estimate)))
        record = await store.insert_proposal(
            self._db, client_id, lambda n: _record(priced, issue(n.proposal_id, n.version)))
        return proposal_pb2.CreateProposalResponse(
            proposal=proposal_pb2.ServiceProposal.FromString(record.proposal))

    async def GetProposal(
        self, request: proposal_pb2.GetProposalRequest, context: Context
    ) -> proposal_pb2.GetProposalResponse:
        record = await self._visible(request.proposal_id)
        return proposal_pb2.GetProposalResponse(
            proposal=proposal_pb2.ServiceProposal.FromString(record.proposal))

    async def ListProposals(
        self, request: proposal_pb2.ListProposalsRequest, context: Context
    ) -> proposal_pb2.ListProposalsResponse:
        caller = access.caller_who_may_read()
        client_id = access.client_to_list(caller, request.client_id)
        page = await store.list_proposals(
            self._db, client_id, request.page.page_size, request.page.page_token)
        return proposal_pb2.ListProposalsResponse(
            proposals=[proposal_pb2.ServiceProposal.FromString(r.proposal) for r in page.items],
            page=types_pb2.PageResponse(
                next_page_token=page.next_page_token, total_size=page.total_size),
        )

    async def RenderProposalDocument(
        self, request: proposal_pb2.RenderProposalDocumentRequest, context: Context
    ) -> proposal_pb2.RenderProposalDocumentResponse:
        if request.format not in _FORMATS:
            raise InvalidArgument.for_field("format", f"unknown format {request.format}")
        record = await self._visible(request.proposal_id)
        content_type, extension = _FORMATS[request.format]
        content = {
            "md": lambda: record.document_markdown.encode(),
            "html": lambda: record.document_html.encode(),
            # Rendered from the issued Markdown, so it says exactly what was issued.
            "pdf": lambda: markdown_to_pdf(
                record.document_markdown,
                f"Analytics Engine Service Proposal - {record.client_name}"),
        }[extension]()
        return proposal_pb2.RenderProposalDocumentResponse(
            content=content, content_type=content_type,
            file_name=f"proposal-{record.client_id}-v{record.version}.{extension}")

    async def _facts_for(self, client_id: str) -> CatalogFacts:
        """The catalog with the client's own KPIs, which a proposal prices like catalog KPIs."""
        custom = await clients_store.list_custom_kpis(self._db, client_id)
        return with_custom_kpis(await self._catalog.facts(), [
            CustomKpiFacts(k.spec.code, k.spec.name, k.spec.base_kpi_code,
                           k.required_object_model_codes) for k in custom])

    async def _visible(self, proposal_id: str) -> store.ProposalRecord:
        caller = access.caller_who_may_read()
        wanted = proposal_id.strip()
        if not wanted:
            raise InvalidArgument.for_field("proposal_id", "is required")
        record = (await store.get_proposal(self._db, wanted)
                  if store.PROPOSAL_ID.match(wanted) else None)
        if record is None:
            raise NotFound(f"proposal {wanted!r} not found; GET /v1/proposals lists them")
        access.check_visible(caller, record.client_id, wanted)
        return record


def _header(issue: Issue) -> document.Header:
    return document.Header(issue.client_name, issue.issue_time, issue.valid_until, issue.version)


def _markdown(priced: PricedProposal, issue: Issue) -> str:
    return document.markdown(priced, _header(issue))


def _record(priced: PricedProposal, issue: Issue) -> store.ProposalRecord:
    markdown = _markdown(priced, issue)
    message = service_proposal(priced, issue, markdown)
    return store.ProposalRecord(
        proposal_id=issue.proposal_id,
        client_id=issue.client_id,
        version=issue.version,
        client_name=issue.client_name,
        issue_time=issue.issue_time,
        valid_until=issue.valid_until,
        created_by=issue.created_by,
        yearly_recurring_cents=priced.totals.yearly_recurring.cents,
        term_total_min_cents=priced.totals.term_total.min.cents,
        term_total_max_cents=priced.totals.term_total.max.cents,
        proposal=message.SerializeToString(),
        document_markdown=markdown,
        document_html=document.html_page(priced, _header(issue)),
    )
