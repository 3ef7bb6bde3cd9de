from services.config.app import ConfigSettings, build
from services.runtime.server import run_service

run_service(ConfigSettings, build)
