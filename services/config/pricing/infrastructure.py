"""Infrastructure estimate (SPEC §3) through a documented sizing model.

Compute: every tier runs at least two replicas. The API gateway adds an instance per 250 concurrent
users; the business tier (3 services) a replica per 100 users or 50,000 one-time queries a day; the
backend tier (3 services) a replica per 2,000 live KPI updates a minute (users × KPIs × updates a
minute of the refresh period) or 25 GB of daily ingestion.
Storage (as the specification computes it): active GB = daily volume × active days of staged source
data; archived GB = daily volume × archive days (zero when archival is off); Redis by user tier.
Network: egress to dashboards (KPIs × users × GB per KPI-user-month of the refresh period) plus
one-time query answers (queries a day × 30 × 1 MB). Every figure can be overridden.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from services.config.pricing.model import (
    InfrastructureInputs,
    InstanceGroupOverride,
    RetentionPolicy,
)
from services.config.pricing.money import cost_of
from services.config.pricing.results import (
    Compute,
    Infrastructure,
    InstanceGroup,
    Network,
    Storage,
    StorageTier,
)
from services.config.pricing.retention import days
from services.config.pricing.tables import (
    API_GATEWAY_INSTANCE,
    BACKEND_SERVICE_INSTANCE,
    BUSINESS_SERVICE_INSTANCE,
    COLD_STORAGE_PRICE,
    DAILY_GB_PER_BACKEND_REPLICA,
    DASHBOARD_GB_PER_KPI_USER_MONTH,
    DAYS_PER_MONTH,
    GB_PER_QUERY,
    HOT_STORAGE_PRICE,
    MAX_COUNT,
    MAX_MONEY_CENTS,
    MAX_UNIT_PRICE,
    MAX_VOLUME_GB,
    MIN_REPLICAS,
    NETWORK_PRICE,
    QUERIES_PER_DAY_PER_BUSINESS_REPLICA,
    REDIS_TIERS,
    SERVICES_PER_TIER,
    STREAM_UPDATES_PER_MINUTE_PER_BACKEND_REPLICA,
    UPDATES_PER_MINUTE,
    USERS_PER_BUSINESS_REPLICA,
    USERS_PER_GATEWAY,
    InstanceType,
)
from services.errors import InvalidArgument


def estimate_infrastructure(
    inputs: InfrastructureInputs, policy: RetentionPolicy
) -> Infrastructure:
    _validate(inputs)
    notes: list[str] = []
    compute = _compute(inputs, notes)
    storage = _storage(inputs, policy, notes)
    network = _network(inputs, notes)
    return Infrastructure(compute, storage, network, tuple(notes))


def _compute(inputs: InfrastructureInputs, notes: list[str]) -> Compute:
    users = inputs.concurrent_users
    gateways = max(MIN_REPLICAS, _ceil(Decimal(users) / USERS_PER_GATEWAY))
    business = max(
        MIN_REPLICAS,
        _ceil(Decimal(users) / USERS_PER_BUSINESS_REPLICA),
        _ceil(Decimal(inputs.queries_per_day) / QUERIES_PER_DAY_PER_BUSINESS_REPLICA),
    )
    updates = users * inputs.kpi_count * UPDATES_PER_MINUTE[inputs.refresh_period]
    backend = max(
        MIN_REPLICAS,
        _ceil(updates / STREAM_UPDATES_PER_MINUTE_PER_BACKEND_REPLICA),
        _ceil(inputs.daily_volume_gb / DAILY_GB_PER_BACKEND_REPLICA),
    )
    notes.append(
        f"API gateway: {gateways} instances for {users} concurrent users "
        f"(one per {USERS_PER_GATEWAY}, at least {MIN_REPLICAS})."
    )
    notes.append(
        f"Business services: {SERVICES_PER_TIER} services × {business} replicas for {users} users "
        f"and {inputs.queries_per_day:,} queries a day."
    )
    notes.append(
        f"Backend services: {SERVICES_PER_TIER} services × {backend} replicas for "
        f"{_plain(updates)} live KPI updates a minute and "
        f"{_plain(inputs.daily_volume_gb)} GB a day."
    )
    overrides = inputs.overrides
    return Compute(
        api_gateway=_group(API_GATEWAY_INSTANCE, gateways, overrides.api_gateway),
        business_services=_group(
            BUSINESS_SERVICE_INSTANCE, SERVICES_PER_TIER * business, overrides.business_services
        ),
        backend_services=_group(
            BACKEND_SERVICE_INSTANCE, SERVICES_PER_TIER * backend, overrides.backend_services
        ),
    )


def _storage(inputs: InfrastructureInputs, policy: RetentionPolicy, notes: list[str]) -> Storage:
    rule = policy.staged_source
    overrides = inputs.overrides
    active_days = days(rule.active)
    active_gb = overrides.active_storage_gb
    if active_gb is None:
        active_gb = inputs.daily_volume_gb * active_days
        notes.append(
            f"Active database: {_plain(inputs.daily_volume_gb)} GB a day × {active_days} days "
            f"= {_plain(active_gb)} GB."
        )
    archive_gb = overrides.archive_storage_gb
    if archive_gb is None:
        if rule.archival_enabled:
            archive_days = days(rule.archive)
            archive_gb = inputs.daily_volume_gb * archive_days
            notes.append(
                f"Archive: {_plain(inputs.daily_volume_gb)} GB a day × {archive_days} days "
                f"({rule.archive.describe()}) = {_plain(archive_gb)} GB."
            )
        else:
            archive_gb = Decimal(0)
            notes.append("Archive: none, source data is deleted after its active retention.")
    hot = (
        overrides.hot_storage_price if overrides.hot_storage_price is not None
        else HOT_STORAGE_PRICE
    )
    cold = (
        overrides.cold_storage_price if overrides.cold_storage_price is not None
        else COLD_STORAGE_PRICE
    )
    redis = redis_instance(inputs.concurrent_users)
    return Storage(
        active_database=StorageTier(active_gb, hot, cost_of(active_gb, hot)),
        archived_data=StorageTier(archive_gb, cold, cost_of(archive_gb, cold)),
        redis_instance_type=overrides.redis_instance_type or redis.name,
        redis_monthly_cost=(
            overrides.redis_monthly_cost if overrides.redis_monthly_cost is not None
            else redis.monthly_cost
        ),
    )


def redis_instance(concurrent_users: int) -> InstanceType:
    for tier in REDIS_TIERS:
        if tier.max_concurrent_users is None or concurrent_users <= tier.max_concurrent_users:
            return tier.instance
    raise AssertionError("the last Redis tier has no limit")


def _network(inputs: InfrastructureInputs, notes: list[str]) -> Network:
    overrides = inputs.overrides
    transfer = overrides.data_transfer_gb
    if transfer is None:
        dashboards = (
            inputs.kpi_count * inputs.concurrent_users
            * DASHBOARD_GB_PER_KPI_USER_MONTH[inputs.refresh_period]
        )
        queries = inputs.queries_per_day * DAYS_PER_MONTH * GB_PER_QUERY
        transfer = dashboards + queries
        notes.append(
            f"Network: {_plain(dashboards)} GB a month to live dashboards and {_plain(queries)} GB "
            f"of query answers = {_plain(transfer)} GB."
        )
    price = overrides.network_price if overrides.network_price is not None else NETWORK_PRICE
    return Network(transfer, price, cost_of(transfer, price))


def _group(default: InstanceType, count: int, override: InstanceGroupOverride) -> InstanceGroup:
    return InstanceGroup(
        instance_type=override.instance_type or default.name,
        instance_count=override.instance_count if override.instance_count is not None else count,
        monthly_cost_per_instance=(
            override.monthly_cost_per_instance
            if override.monthly_cost_per_instance is not None else default.monthly_cost
        ),
    )


def _validate(inputs: InfrastructureInputs) -> None:
    """Nothing negative, nothing beyond the plausibility limits (which keep every figure within
    64-bit cents)."""
    overrides = inputs.overrides
    bounds: list[tuple[str, Decimal | int | None, Decimal | int]] = [
        ("daily_volume_gb", inputs.daily_volume_gb, MAX_VOLUME_GB),
        ("concurrent_users", inputs.concurrent_users, MAX_COUNT),
        ("kpi_count", inputs.kpi_count, MAX_COUNT),
        ("queries_per_day", inputs.queries_per_day, MAX_COUNT * 1_000),
    ]
    for name in ("active_storage_gb", "archive_storage_gb", "data_transfer_gb"):
        bounds.append((f"overrides.{name}", getattr(overrides, name), MAX_VOLUME_GB))
    for name in ("hot_storage_price", "cold_storage_price", "network_price"):
        bounds.append((f"overrides.{name}", getattr(overrides, name), MAX_UNIT_PRICE))
    for name in ("api_gateway", "business_services", "backend_services"):
        group: InstanceGroupOverride = getattr(overrides, name)
        cost = group.monthly_cost_per_instance
        bounds += [
            (f"overrides.{name}.instance_count", group.instance_count, MAX_COUNT),
            (f"overrides.{name}.monthly_cost_per_instance",
             None if cost is None else cost.cents, MAX_MONEY_CENTS),
        ]
    redis = overrides.redis_monthly_cost
    bounds.append(("overrides.redis_monthly_cost", None if redis is None else redis.cents,
                   MAX_MONEY_CENTS))
    for name, value, limit in bounds:
        if value is None:
            continue
        if value < 0:
            raise InvalidArgument.for_field(f"infrastructure.{name}", "must not be negative")
        if value > limit:
            raise InvalidArgument.for_field(f"infrastructure.{name}", f"must be at most {limit:,}")


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _plain(value: Decimal) -> str:
    """A decimal without trailing zeros or exponent: 500, 0.5, 2.16."""
    text = f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
