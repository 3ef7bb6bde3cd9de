from services.calculation.app import CalculationSettings, build
from services.runtime.garbage import collect_cycles_less_often
from services.runtime.server import run_service

# After the imports, whose objects it moves out of the collector's way for good.
collect_cycles_less_often()
run_service(CalculationSettings, build)
