"""Catalog files edited in a copy, for tests of what loading refuses."""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from services.catalog.catalog_files import DEFAULT_DATA_DIR, CatalogFileError, load_catalog_files


def problems_after_editing(
    tmp_path: pathlib.Path, model_code: str, edit: Callable[[dict[str, Any]], None]
) -> list[str]:
    """The problems loading reports once `edit` changed object model `model_code` (in
    object_models/scor.yaml) of a copy of the shipped catalog; fails when loading succeeds."""
    data_dir = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, data_dir)
    path = data_dir / "object_models" / "scor.yaml"
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(next(m for m in content["object_models"] if m["code"] == model_code))
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    with pytest.raises(CatalogFileError) as raised:
        load_catalog_files(data_dir)
    return list(raised.value.problems)
