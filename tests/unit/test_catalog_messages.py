"""Catalog values survive the trip through protobuf both ways (the calculation service reads the
catalog over gRPC)."""

from services.catalog import messages
from services.catalog.catalog_files import load_catalog_files


def test_every_shipped_kpi_and_object_model_round_trips() -> None:
    catalog = load_catalog_files()
    for kpi in catalog.kpis:
        assert messages.kpi_from_proto(messages.kpi(kpi)) == kpi
    for model in catalog.object_models:
        assert messages.object_model_from_proto(messages.object_model(model)) == model
