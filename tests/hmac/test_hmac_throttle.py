"""Prow's throttle (`--github-hourly-tokens`, `--github-allowed-burst`) on a fake clock."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kes.hmac.throttle import Throttle, ThrottleError, check_throttle
from tests.hmac.conftest import FakeTime


def test_a_burst_goes_at_once_then_one_per_period() -> None:
    time = FakeTime()
    throttle = Throttle(3600, 3, time.clock, time.sleep)  # one a second
    started = []
    for _ in range(6):
        throttle.take()
        started.append(time.now)
    # As in Prow: the refill starts once the burst's own time (3 s) has passed.
    assert started == pytest.approx([0, 0, 0, 4, 5, 6])


def test_idle_time_refills_the_burst_up_to_its_size() -> None:
    time = FakeTime()
    throttle = Throttle(3600, 2, time.clock, time.sleep)
    throttle.take()
    throttle.take()
    time.now += 100  # long idle: two tokens back, not a hundred
    for _ in range(3):
        throttle.take()
    assert time.slept == pytest.approx([1.0])


@pytest.mark.parametrize(
    ("values", "result"),
    # `--github-hourly-tokens=0` alone turns the throttle off, whatever the burst says.
    [((0, 0), (0, 0)), ((0, 5), (0, 0)), ((10, 10), (10, 10))],
)
def test_prow_flag_rules_that_pass(values, result) -> None:
    assert check_throttle(*values) == result


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((10, 0), "must be either both higher than zero or both equal to zero"),
        ((10, 11), "--github-allowed-burst must not be larger than --github-hourly-tokens"),
        ((-1, 0), "cannot be negative"),
    ],
)
def test_prow_flag_rules_that_fail(values, message) -> None:
    with pytest.raises(ThrottleError, match=message):
        check_throttle(*values)


@settings(max_examples=200, deadline=None)
@given(
    hourly=st.integers(min_value=1, max_value=500),
    burst_share=st.floats(min_value=0.0, max_value=1.0),
    idle=st.lists(st.floats(min_value=0.0, max_value=30.0), min_size=1, max_size=60),
)
def test_never_more_than_the_flags_allow(hourly, burst_share, idle) -> None:
    """From the start, no more than max(burst, hourly * t / 1h) requests by time t (so
    at most `hourly` in the first hour); in any window, no more than burst plus what
    the window refills."""
    burst = max(1, round(burst_share * hourly))
    period = 3600 / hourly
    time = FakeTime()
    throttle = Throttle(hourly, burst, time.clock, time.sleep)
    started = []
    for gap in idle:
        time.now += gap * period
        throttle.take()
        started.append(time.now)
    for count, at in enumerate(started, start=1):
        assert count <= max(burst, at / period) + 1e-6
    for first in range(len(started)):
        for last in range(first, len(started)):
            window = started[last] - started[first]
            assert last - first + 1 <= burst + window / period + 1e-6
