from services.ml.app import MlSettings, build
from services.runtime.server import run_service

run_service(MlSettings, build)
