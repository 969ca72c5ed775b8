"""Renders in worker processes: the same Secret as in process, and every budget held."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kes.controller.render_worker import RenderBudget, RenderBudgetError, RenderWorkers
from kes.errors import KesError
from kes.names import SecretVersionName
from kes.render import Payload, render_secret
from kes.spec import parse_external_secret

DB = SecretVersionName("proj-one", "db", "latest")
PAYLOADS = {DB: Payload(b'{"password": "pw1", "user": "admin"}')}
# Inside every counted template limit, but seconds of CPU: a 1 MB text counted 400 times.
SLOW = ("{% set text = 'a ' * 500000 %}{% for i in range(400) %}"
        "{{ text | wordcount }}{% endfor %}")
# Twelve megabytes held at once: inside the counted limits, past a small address space.
LARGE = "{% set a = 'x' * 1000000 %}" + "".join(
    f"{{% set v{i} = a ~ '{i}' %}}" for i in range(12)) + "{{ v0 | length }}"


def spec(es: Any, **template: Any) -> Any:
    manifest = es("db", data=[{"key": "db", "name": "password", "property": "password"}],
                  template=template or None)
    return parse_external_secret(manifest, None)


async def test_a_render_in_a_worker_is_the_render_in_process(es: Any) -> None:
    workers = RenderWorkers(count=1)
    try:
        parsed = spec(es, stringData={"url": "user={{ data.password }}"})
        rendered = await workers.render("db", "default", parsed, PAYLOADS)
        assert rendered == render_secret("db", "default", parsed, PAYLOADS)
        assert rendered.data["url"] == b"user=pw1"
    finally:
        await workers.close()


async def test_a_render_error_names_the_field_and_the_worker_lives_on(es: Any) -> None:
    workers = RenderWorkers(count=1)
    try:
        broken = spec(es, stringData={"x": "{{ data.missing }}"})
        with pytest.raises(KesError, match=r"spec\.template\.stringData\[x\]"):
            await workers.render("db", "default", broken, PAYLOADS)
        assert (await workers.render("db", "default", spec(es), PAYLOADS)).data
    finally:
        await workers.close()


async def test_cpu_over_budget_is_stopped_and_the_next_render_works(es: Any) -> None:
    workers = RenderWorkers(count=1, budget=RenderBudget(cpu_seconds=1, wall_seconds=30))
    try:
        slow = spec(es, stringData={"n": SLOW})
        with pytest.raises(RenderBudgetError, match="more than the CPU limit of 1 s"):
            await workers.render("db", "default", slow, PAYLOADS)
        assert (await workers.render("db", "default", spec(es), PAYLOADS)).data
    finally:
        await workers.close()


async def test_wall_time_over_budget_is_stopped(es: Any) -> None:
    workers = RenderWorkers(count=1, budget=RenderBudget(cpu_seconds=60, wall_seconds=0.5))
    try:
        slow = spec(es, stringData={"n": SLOW})
        with pytest.raises(RenderBudgetError, match="took longer than the limit of 0.5 s"):
            await workers.render("db", "default", slow, PAYLOADS)
        assert (await workers.render("db", "default", spec(es), PAYLOADS)).data
    finally:
        await workers.close()


async def test_memory_over_the_limit_fails_that_render_only(es: Any) -> None:
    workers = RenderWorkers(count=1, budget=RenderBudget(memory_bytes=44 * 1024 * 1024))
    try:
        large = spec(es, stringData={"n": LARGE})
        with pytest.raises(KesError, match=r"stringData\[n\]: template needed more memory"):
            await workers.render("db", "default", large, PAYLOADS)
        assert (await workers.render("db", "default", spec(es), PAYLOADS)).data
    finally:
        await workers.close()


async def test_one_slow_render_does_not_hold_up_the_other_worker(es: Any) -> None:
    workers = RenderWorkers(count=2, budget=RenderBudget(cpu_seconds=1, wall_seconds=30))
    try:
        slow = asyncio.ensure_future(
            workers.render("db", "default", spec(es, stringData={"n": SLOW}), PAYLOADS))
        await asyncio.sleep(0.2)  # the slow one has a worker
        for _ in range(5):
            assert (await workers.render("db", "default", spec(es), PAYLOADS)).data
        assert not slow.done()
        with pytest.raises(RenderBudgetError):
            await slow
    finally:
        await workers.close()


async def test_an_idle_worker_exits_and_the_next_render_starts_one(es: Any) -> None:
    workers = RenderWorkers(count=1, budget=RenderBudget(idle_seconds=0.2))
    try:
        assert workers.running == 0  # nothing started before the first render
        assert (await workers.render("db", "default", spec(es), PAYLOADS)).data
        assert workers.running == 1
        await asyncio.sleep(0.5)
        assert workers.running == 0
        assert (await workers.render("db", "default", spec(es), PAYLOADS)).data
    finally:
        await workers.close()
