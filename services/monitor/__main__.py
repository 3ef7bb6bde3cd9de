from services.monitor.app import MonitorSettings, build
from services.runtime.server import run_service

run_service(MonitorSettings, build)
