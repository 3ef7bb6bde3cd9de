"""The embedded stack's processes: how many stream hubs run, their names and their ports."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from analytics_engine import settings
from analytics_engine.components import COMPONENTS
from analytics_engine.state import ProcessEntry, StackState


def _build(
    tmp_path: Path, hub_processes: int | None = None, environ: Mapping[str, str] | None = None
) -> settings.StackSettings:
    return settings.build(
        data_dir=tmp_path,
        public_port=None,
        auto_ports=True,
        hub_processes=hub_processes,
        environ=environ or {},
    )


def test_the_hub_runs_as_many_processes_as_asked_each_on_its_own_port(tmp_path: Path) -> None:
    stack = _build(tmp_path, hub_processes=3)
    hubs = stack.instances_of("gateway")
    assert [hub.name for hub in hubs] == ["gateway", "gateway-2", "gateway-3"]
    assert hubs[0].port == stack.ports.components["gateway"]
    # Peers reach a component at its first process.
    assert stack.component_address("gateway") == hubs[0].address
    ports = [instance.port for instance in stack.instances()]
    assert len(set(ports)) == len(ports) == len(COMPONENTS) + 2
    # Components that do not scale out run once, whatever is asked of the hub.
    assert [i.name for i in stack.instances() if i.component.name != "gateway"] == [
        c.name for c in COMPONENTS if c.name != "gateway"
    ]


def test_the_number_of_hubs_comes_from_the_environment_else_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _build(tmp_path, environ={settings.HUB_PROCESSES_VAR: "2"})
    assert len(stack.instances_of("gateway")) == 2
    # One per two cores, at least one, at most four.
    for cores, hubs in ((None, 1), (1, 1), (2, 1), (4, 2), (6, 3), (16, 4)):
        monkeypatch.setattr(settings.os, "cpu_count", lambda cores=cores: cores)
        assert settings.default_hub_processes() == hubs
    monkeypatch.setattr(settings.os, "cpu_count", lambda: 8)
    assert len(_build(tmp_path, environ={}).instances_of("gateway")) == 4


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_a_hub_count_that_is_not_a_positive_whole_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=f"AE_HUB_PROCESSES must be a whole number.*{text!r}"):
        settings.hub_processes_from({settings.HUB_PROCESSES_VAR: text})


def test_the_stack_record_finds_every_process_of_a_component() -> None:
    def entry(name: str) -> ProcessEntry:
        return ProcessEntry(name, 1, 0.0)

    record = StackState(
        "ready",
        entry("supervisor"),
        "/d",
        "a",
        "b",
        "",
        "",
        tuple(entry(n) for n in ("data", "gateway", "gateway-2", "gateway-x", "ui", "demo-feed")),
    )
    assert [p.name for p in record.instances("gateway")] == ["gateway", "gateway-2"]
    assert [p.name for p in record.instances("data")] == ["data"]
