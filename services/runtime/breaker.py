"""A client-side circuit breaker for calls to one peer (pure: no gRPC).

Closed, calls go through. After `failure_threshold` calls in a row fail because the peer could
not be reached, it opens: calls fail at once, without waiting on a connection that is not
there, so a caller answers UNAVAILABLE in microseconds instead of spending its deadline. After
`open_seconds` one call is let through as a probe (half-open); its success closes the breaker,
its failure opens it again. Health checks go through the same channel, so the periodic readiness
check is often the probe that finds the peer back.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        open_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._opened_at = 0.0
        self._probing = False

    def allow(self) -> bool:
        """Whether a call may go out now; a True in the open state makes that call the probe."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.open_seconds:
                return False
            self.state = BreakerState.HALF_OPEN
        if self._probing:
            return False
        self._probing = True
        return True

    def retry_after(self) -> float:
        """Seconds until the next probe may go out (0 when calls go through)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.open_seconds - (self._clock() - self._opened_at))

    def succeeded(self) -> None:
        """The peer answered (whatever the answer): it is reachable."""
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._probing = False

    def failed(self) -> None:
        """The peer could not be reached."""
        self.consecutive_failures += 1
        self._probing = False
        if (
            self.state is BreakerState.HALF_OPEN
            or self.consecutive_failures >= self.failure_threshold
        ):
            self.state = BreakerState.OPEN
            self._opened_at = self._clock()

    def abandoned(self) -> None:
        """A call ended without an answer either way (cancelled): a probe may go out again."""
        self._probing = False
