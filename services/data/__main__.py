from services.data.app import DataSettings, build
from services.runtime.server import run_service

run_service(DataSettings, build)
