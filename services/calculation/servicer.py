"""CalculationService: protobuf in, calculator, protobuf out (results joined in wire form)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.type.v1 import types_pb2
from google.protobuf import duration_pb2
from google.protobuf.message import Message

from services.calculation import export, messages
from services.calculation.answers import Answer, Answers
from services.calculation.calculator import BatchOutcome, Calculator
from services.calculation.catalog_view import CatalogView
from services.calculation.formula.compiler import FormulaCatalog, compile_formula
from services.calculation.formula.errors import Diagnostic, FormulaError
from services.calculation.results import KpiOutcome
from services.errors import DomainError, InvalidArgument
from services.runtime.status import domain_error_status
from services.runtime.wire import PreEncoded, serializer

Context = Any

SERVICE = calculation_pb2.DESCRIPTOR.services_by_name["CalculationService"]


def _errors(errors: Sequence[tuple[str, DomainError]]) -> list[calculation_pb2.KpiError]:
    return [
        calculation_pb2.KpiError(kpi_code=code, status=domain_error_status(error))
        for code, error in errors
    ]


def _stats(answer: Answer) -> calculation_pb2.CalculationStats:
    elapsed = duration_pb2.Duration()
    elapsed.FromNanoseconds(int(answer.elapsed_seconds * 1e9))
    return calculation_pb2.CalculationStats(
        kpi_count=answer.kpi_count,
        cache_hits=answer.cache_hits,
        scan_count=answer.scan_count,
        elapsed=elapsed,
    )


def _diagnostic(diagnostic: Diagnostic) -> types_pb2.FormulaDiagnostic:
    end_column = diagnostic.column + max(len(diagnostic.text), 1)
    return types_pb2.FormulaDiagnostic(
        severity=types_pb2.DIAGNOSTIC_SEVERITY_ERROR,
        message=str(diagnostic),
        start=types_pb2.SourcePosition(line=diagnostic.line, column=diagnostic.column),
        end=types_pb2.SourcePosition(line=diagnostic.line, column=end_column),
        found=diagnostic.text,
    )


def _with_results(head: Message, results_field: int, batch: BatchOutcome) -> PreEncoded:
    return PreEncoded(
        messages.with_results(
            head, results_field, batch.outcomes, batch.encoded, batch.series_layout
        )
    )


def _answered(head: Message, answer: Answer) -> PreEncoded:
    """`head`'s fields followed by the answer's results, joined already."""
    return PreEncoded(head.SerializeToString() + answer.results)


class CalculationServicer(calculation_pb2_grpc.CalculationServiceServicer):
    def __init__(self, calculator: Calculator, answers: Answers, catalog: CatalogView) -> None:
        self._calculator = calculator
        self._answers = answers
        self._catalog = catalog

    async def Calculate(  # type: ignore[override]
        self, request: calculation_pb2.CalculateRequest, context: Context
    ) -> PreEncoded:
        if not request.kpi_code.strip():
            raise InvalidArgument.for_field("kpi_code", "is required")
        batch = await self._calculator.calculate(messages.request(request, [request.kpi_code]))
        if batch.errors:
            raise batch.errors[0][1]
        # A singular message field is encoded like a repeated one holding one element.
        return _with_results(
            calculation_pb2.CalculateResponse(),
            calculation_pb2.CalculateResponse.RESULT_FIELD_NUMBER,
            batch,
        )

    async def CalculateBatch(  # type: ignore[override]
        self, request: calculation_pb2.CalculateBatchRequest, context: Context
    ) -> PreEncoded:
        answer = await self._answers.answer(
            messages.request(request, list(request.kpi_codes)),
            calculation_pb2.CalculateBatchResponse.RESULTS_FIELD_NUMBER,
        )
        return _answered(
            calculation_pb2.CalculateBatchResponse(
                errors=_errors(answer.errors), stats=_stats(answer)
            ),
            answer,
        )

    async def CalculateDashboard(  # type: ignore[override]
        self, request: calculation_pb2.CalculateDashboardRequest, context: Context
    ) -> PreEncoded:
        answer = await self._answers.answer(
            messages.request(request, list(request.kpi_codes)),
            calculation_pb2.CalculateDashboardResponse.RESULTS_FIELD_NUMBER,
        )
        return _answered(
            calculation_pb2.CalculateDashboardResponse(
                errors=_errors(answer.errors),
                stats=_stats(answer),
                dashboard_id=request.dashboard_id,
            ),
            answer,
        )

    async def ValidateFormula(
        self, request: calculation_pb2.ValidateFormulaRequest, context: Context
    ) -> calculation_pb2.ValidateFormulaResponse:
        """A formula with problems is a valid request: the answer lists where and what."""
        if not request.formula.strip():
            raise InvalidArgument.for_field("formula", "is required")
        snapshot = await self._catalog.snapshot()
        catalog = FormulaCatalog(snapshot.object_models, snapshot.kpis)
        try:
            compiled = compile_formula(request.formula, catalog, request.kpi_code or None)
        except FormulaError as error:
            return calculation_pb2.ValidateFormulaResponse(
                valid=False, diagnostics=[_diagnostic(d) for d in error.diagnostics]
            )
        return calculation_pb2.ValidateFormulaResponse(
            valid=True,
            normalized_formula=compiled.formula,
            object_model_codes=list(compiled.object_model_codes),
            referenced_kpi_codes=sorted(compiled.referenced_kpi_codes),
        )

    async def ExportCalculation(
        self, request: calculation_pb2.ExportCalculationRequest, context: Context
    ) -> calculation_pb2.ExportCalculationResponse:
        renderers = {
            calculation_pb2.EXPORT_FORMAT_CSV: (export.to_csv, export.CSV_TYPE, "csv"),
            calculation_pb2.EXPORT_FORMAT_XLSX: (export.to_xlsx, export.XLSX_TYPE, "xlsx"),
        }
        if request.format not in renderers:
            raise InvalidArgument.for_field("format", "choose CSV or XLSX")
        render, content_type, extension = renderers[request.format]
        # Exports render values, so they are computed rather than taken encoded from the cache.
        wanted = dataclasses.replace(
            messages.request(request, list(request.kpi_codes)), bypass_cache=True
        )
        batch = await self._calculator.calculate(wanted)
        outcomes = [item for item in batch.outcomes if isinstance(item, KpiOutcome)]
        content, rows = await asyncio.to_thread(render, outcomes)
        return calculation_pb2.ExportCalculationResponse(
            content=content,
            content_type=content_type,
            file_name=f"kpis-{wanted.client_id}.{extension}",
            row_count=rows,
            errors=_errors(batch.errors),
        )


def registration(servicer: CalculationServicer) -> Callable[[grpc.aio.Server], None]:
    """The generated registration's handlers, with response serializers that send the responses
    the servicer assembled in wire form as they are."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in SERVICE.methods:
        if method.client_streaming or method.server_streaming:
            raise TypeError(f"{method.full_name} streams: give it a streaming handler here")
        request_type = getattr(calculation_pb2, method.input_type.name)
        response_type = getattr(calculation_pb2, method.output_type.name)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=request_type.FromString,
            response_serializer=serializer(response_type.SerializeToString),
        )

    def register(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),)
        )

    return register
