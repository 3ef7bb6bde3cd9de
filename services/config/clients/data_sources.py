"""Checks on a data source: the object model exists, time-and-materials hours only where the
pricing model has them, no secret among the connection settings (which reads return), and the
field mappings' report. Credentials are only checked for shape here; they are sealed before
storage."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from services.catalog.domain import ObjectModel
from services.config.clients.mappings import check_mappings
from services.config.clients.model import DataSourceSpec, MappingReport
from services.config.clients.rules import hours_violations, raise_if_any, suggestion
from services.errors import FieldViolation

# Connection settings are returned by reads, so nothing that looks like a secret may be among them.
SECRET_LOOKING = re.compile(r"pass|secret|token|api_?key|private|credential|pwd", re.IGNORECASE)


def check_data_source(
    spec: DataSourceSpec, object_models: Mapping[str, ObjectModel], prefix: str = "data_source"
) -> MappingReport:
    """Raises InvalidArgument naming every field at fault; otherwise the mappings' report (a
    mapping with problems is a valid request: it is stored as INVALID or INCOMPLETE)."""
    violations: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        violations.append(FieldViolation(f"{prefix}.{field}", description))

    model = object_models.get(spec.object_model_code)
    if model is None:
        bad("object_model_code", f"unknown object model {spec.object_model_code!r}"
                                 f"{suggestion(spec.object_model_code, object_models)}; "
                                 "GET /v1/object-models lists them")
    if spec.tm_hours is not None and not spec.integration_type.is_time_and_materials:
        bad("tm_hours",
            "only streaming non-architected integrations are priced by time and materials")
    violations.extend(hours_violations(spec.tm_hours, f"{prefix}.tm_hours"))
    try:
        json.dumps(dict(spec.connection_settings), allow_nan=False)
    except ValueError:
        bad("connection_settings", "numbers must be finite (no NaN or infinity)")
    for name in spec.connection_settings:
        if SECRET_LOOKING.search(name):
            bad(f"connection_settings.{name}",
                "looks like a secret; connection settings are returned by reads, so send it in "
                "credentials, which are stored encrypted and never returned")
    if any(not name.strip() or not value for name, value in spec.credentials.items()):
        bad("credentials", "every credential needs a name and a value")
    if spec.credentials and spec.clear_credentials:
        bad("clear_credentials", "cannot be set together with new credentials")
    raise_if_any(violations, "the data source is invalid")
    assert model is not None
    return check_mappings(model, spec.field_mappings, spec.source_fields)
