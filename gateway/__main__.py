from gateway.app import GatewaySettings, build
from services.runtime.server import run_service

run_service(GatewaySettings, build)
