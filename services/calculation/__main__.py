from services.calculation.app import CalculationSettings, build
from services.runtime.server import run_service

run_service(CalculationSettings, build)
