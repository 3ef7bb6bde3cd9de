from gateway.app import GatewaySettings, build
from gateway.memory import return_large_blocks_to_the_system
from services.runtime.server import run_service

# Before any thread or large block exists: the settings apply to every later allocation.
return_large_blocks_to_the_system()
run_service(GatewaySettings, build)
