import dataclasses

import pytest

from services.runtime.settings import ServiceSettings, SettingsError, env, load_settings


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExampleSettings(ServiceSettings):
    database_url: str = env("DATABASE_URL")
    pool_size: int = env("AE_POOL_SIZE", 10)
    verbose: bool = env("AE_VERBOSE", False)


def test_settings_are_typed_and_defaulted() -> None:
    settings = load_settings(
        ExampleSettings,
        {
            "AE_SERVICE_NAME": "x",
            "AE_LISTEN": "127.0.0.1:1",
            "DATABASE_URL": "postgresql://h/db",
            "AE_POOL_SIZE": "3",
            "AE_VERBOSE": "yes",
        },
    )
    assert settings.pool_size == 3 and settings.verbose is True
    assert settings.shutdown_grace_seconds == 5.0


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(ExampleSettings, {"AE_POOL_SIZE": "many"})
    message = str(error.value)
    for expected in (
        "AE_SERVICE_NAME is not set",
        "AE_LISTEN is not set",
        "DATABASE_URL is not set",
        "AE_POOL_SIZE='many' is invalid",
    ):
        assert expected in message
