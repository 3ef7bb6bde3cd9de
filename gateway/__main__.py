from gateway.app import GatewaySettings, build
from gateway.memory import return_large_blocks_to_the_system
from services.runtime.garbage import collect_cycles_less_often
from services.runtime.server import run_service

# Before any thread or large block exists: the settings apply to every later allocation.
return_large_blocks_to_the_system()
# After the imports, whose objects it moves out of the collector's way for good.
collect_cycles_less_often()
run_service(GatewaySettings, build)
