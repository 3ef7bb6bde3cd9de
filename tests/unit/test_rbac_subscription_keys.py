"""Stream subscriptions are keyed by the viewers' rights: the hub and the calculation service
derive the same key from the same claims, callers with different rights never share a
subscription, and callers with equal rights always do."""

from __future__ import annotations

from gateway.streaming.buckets import LivePeriod
from gateway.streaming.calculation_client import SubscriptionId, Viewer
from services.calculation.streaming.servicer import subscription_of
from services.security.caller import Caller, Role


def _caller(subject: str, **attributes: str) -> Caller:
    return Caller(subject=subject, role=Role.MANAGER, client_id="acme", attributes=attributes)


def _subscription(caller: Caller | None) -> SubscriptionId:
    viewer = Viewer.of(caller) if caller is not None else None
    return SubscriptionId("acme", "SALES_REVENUE", LivePeriod.MINUTE, viewer)


def test_hub_and_calculation_agree_on_the_key() -> None:
    caller = _caller("m-1", region="emea", org_node="REP-014")
    hub_side = _subscription(caller)
    calculation_side = subscription_of(hub_side.to_wire(), "subscriptions[0]")
    assert calculation_side.security_context_key == caller.security_context()
    assert calculation_side.caller is not None
    assert dict(calculation_side.caller.attributes) == {"region": "emea", "org_node": "REP-014"}
    assert calculation_side.caller.role is Role.MANAGER


def test_different_rights_never_share_equal_rights_always_do() -> None:
    emea = _subscription(_caller("m-1", region="emea"))
    other_emea = _subscription(_caller("m-2", region="emea"))
    apac = _subscription(_caller("m-3", region="apac"))
    unrestricted = _subscription(None)
    assert emea == other_emea and hash(emea) == hash(other_emea)
    keys = {
        subscription_of(s.to_wire(), "s").key for s in (emea, other_emea, apac, unrestricted)
    }
    assert len(keys) == 3


def test_a_subscription_without_a_viewer_carries_no_claims() -> None:
    wire = _subscription(None).to_wire()
    assert not wire.HasField("security_context")
    calculation_side = subscription_of(wire, "s")
    assert calculation_side.caller is None and calculation_side.security_context_key == ""
