from services.catalog.app import CatalogSettings, build
from services.runtime.server import run_service

run_service(CatalogSettings, build)
