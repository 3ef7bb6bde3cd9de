"""Domain errors become gRPC statuses in one place: the code, the field violations, and the
further details a contract promises (formula diagnostics with positions)."""

from __future__ import annotations

from analytics.type.v1 import types_pb2
from google.rpc import code_pb2, error_details_pb2

from services import errors
from services.calculation.formula.errors import Diagnostic, FormulaError
from services.runtime.status import domain_error_status


def test_a_formula_error_carries_its_violations_and_positioned_diagnostics() -> None:
    error = FormulaError(
        [Diagnostic(1, 19, "delivery_at", "unknown field 'delivery_at' on ORDER"),
         Diagnostic(2, 1, "", "expected ')'")],
        field="custom_kpi.formula",
    )
    status = domain_error_status(error)
    assert status.code == code_pb2.INVALID_ARGUMENT
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == ["custom_kpi.formula"] * 2
    diagnostics = []
    for detail in status.details[1:]:
        diagnostic = types_pb2.FormulaDiagnostic()
        assert detail.Unpack(diagnostic)
        diagnostics.append(diagnostic)
    first, at_end = diagnostics
    assert first.severity == types_pb2.DIAGNOSTIC_SEVERITY_ERROR
    assert (first.start.line, first.start.column, first.end.column) == (1, 19, 30)
    assert (first.start.offset, first.end.offset) == (18, 29)
    assert first.found == "delivery_at"
    assert first.message == "line 1, column 19: unknown field 'delivery_at' on ORDER"
    # A point (the end of the formula) spans one column.
    assert (at_end.start.line, at_end.start.column, at_end.end.column) == (2, 1, 2)


def test_offsets_are_counted_in_the_formula_text_when_it_is_known() -> None:
    formula = "sum(ORDER.order_value)\n  / count(ORDR)"
    problem = Diagnostic(2, 11, "ORDR", "unknown object model 'ORDR'")
    error = errors.InvalidArgument(
        "formula: bad", [errors.FieldViolation("formula", str(problem))],
        details=[errors.InText(problem, formula)])
    diagnostic = types_pb2.FormulaDiagnostic()
    assert domain_error_status(error).details[1].Unpack(diagnostic)
    assert formula[diagnostic.start.offset:diagnostic.end.offset] == "ORDR"
    assert (diagnostic.start.line, diagnostic.start.column) == (2, 11)
    # Without the text, a position past the first line has no offset to give.
    unknown = types_pb2.FormulaDiagnostic()
    assert domain_error_status(FormulaError([problem])).details[1].Unpack(unknown)
    assert (unknown.start.column, unknown.start.offset) == (11, 0)


def test_details_without_a_contract_are_left_out() -> None:
    error = errors.InvalidArgument(
        "x: bad", [errors.FieldViolation("x", "bad")], details=[object()])
    status = domain_error_status(error)
    assert len(status.details) == 1
    assert status.details[0].Is(error_details_pb2.BadRequest.DESCRIPTOR)


def test_other_errors_carry_no_details() -> None:
    status = domain_error_status(errors.NotFound("client 'x' not found"))
    assert (status.code, status.message, list(status.details)) == (
        code_pb2.NOT_FOUND, "client 'x' not found", [])
