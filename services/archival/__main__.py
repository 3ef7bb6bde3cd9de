from services.archival.app import ArchivalSettings, build
from services.runtime.server import run_service

run_service(ArchivalSettings, build)
