from services.entities.app import EntitiesSettings, build
from services.runtime.server import run_service

run_service(EntitiesSettings, build)
