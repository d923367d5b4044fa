"""kneebot benchmarks: every figure beside a baseline doing the same work in the same run.

    python bench/run.py [--quick] [--json bench/results/latest.json]

Each measure and its baseline run in turn, A B, B A, A B..., and a row's ratio is the median of
the ratios of pairs measured back to back, not a best of unrelated runs. Prints one table and
writes it as JSON. A benchmark reports: it never fails the build for a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.floor import ANSWERS, floor_triage  # noqa: E402
from bot import engine  # noqa: E402
from bot.content import load_content  # noqa: E402
from bot.conversations import Conversations  # noqa: E402
from bot.model import ConversationKey, Event, State  # noqa: E402
from bot.stores import Store, open_store  # noqa: E402

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
CONSTANTS = {"emergency_number": "112", "retention_hours": 24, "unit": "miles"}
Row = dict[str, Any]
median = statistics.median


def paired(
    name: str,
    unit: str,
    target: str,
    values: Sequence[float],
    baselines: Sequence[float],
    baseline_name: str,
    lower_is_better: bool = True,
    defaults: Sequence[float] | None = None,
) -> Row:
    """A row from pairs measured back to back: the medians, and the median of the pairs' ratios."""
    found: Row = {
        "name": name, "unit": unit, "target": target, "baseline_name": baseline_name,
        "value": median(values), "baseline": median(baselines),
        "ratio": median(v / b for v, b in zip(values, baselines, strict=True)),
        "pairs": len(values), "lower_is_better": lower_is_better,
    }  # fmt: skip
    if defaults is not None:
        found["default_bolt"] = median(defaults)
        found["ratio_default"] = median(v / d for v, d in zip(values, defaults, strict=True))
    return found


def turns(rounds: int) -> list[int]:
    """The order of two measures in each round: 0 first on even rounds, 1 first on odd ones."""
    return [0 if n % 2 == 0 else 1 for n in range(rounds)]


# The engine against a hand-written state machine of the same flow -------------------------------


def answers_as_events() -> list[Event]:
    return [Event("answer", NOW, value="start")] + [
        Event("answer", NOW, value=tuple(v) if isinstance(v, list) else v) for v in ANSWERS.values()
    ]


def engine_triage(content: Any, events: list[Event]) -> list[float]:
    """Per-turn times of one whole triage through the engine."""
    times: list[float] = []
    state: State | None = None
    for event in events:
        started = time.perf_counter()
        result = engine.step(content, state, event)
        times.append(time.perf_counter() - started)
        state = result.state
    assert state is not None
    assert state.finished
    return times


def bench_engine(rounds: int) -> list[Row]:
    content = load_content(None, CONSTANTS)
    events = answers_as_events()
    ours: list[list[float]] = []
    floor: list[list[float]] = []
    for _ in range(10):  # warm both up
        engine_triage(content, events)
        floor_triage()
    for first in turns(rounds):
        if first == 0:
            ours.append(engine_triage(content, events))
            floor.append(floor_triage())
        else:
            floor.append(floor_triage())
            ours.append(engine_triage(content, events))
    floor_name = "the same flow as dicts and ifs (bench/floor.py)"
    return [
        paired("engine, median turn of a triage", "µs", "≤ 3x", [median(t) * 1e6 for t in ours],
               [median(t) * 1e6 for t in floor], floor_name),
        paired("engine, whole triage", "µs", "≤ 5x", [sum(t) * 1e6 for t in ours],
               [sum(t) * 1e6 for t in floor], floor_name),
    ]  # fmt: skip


# A whole conversation through the service, per store, against the raw store operations ----------


async def conversation(service: Conversations, user: str) -> None:
    key = ConversationKey("bench", "T", user)
    for event in answers_as_events():
        await service.handle(key, event)


async def raw_ops(store: Store, user: str, data: str) -> None:
    key = f"bench:T:{user}"
    for _ in answers_as_events():
        stored = await store.get(key)
        await store.compare_and_set(key, stored.version if stored else None, data, 86400)


async def bench_store(url: str, label: str, count: int) -> list[Row]:
    store = open_store(url)
    service = Conversations(load_content(None, CONSTANTS), store, timedelta(hours=24))
    data = '{"facts":{"red_flags":["none"],"onset":"gradual"},"asking":"age"}'
    await conversation(service, "warm")
    await raw_ops(store, "warm", data)
    whole: list[float] = []
    raw: list[float] = []
    for n, first in enumerate(turns(count)):
        for which in (first, 1 - first):
            started = time.perf_counter()
            if which == 0:
                await conversation(service, f"s{n}")
                whole.append((time.perf_counter() - started) * 1e3)
            else:
                await raw_ops(store, f"r{n}", data)
                raw.append((time.perf_counter() - started) * 1e3)
    await store.close()
    return [paired(f"whole triage via the service, {label}", "ms", "report", whole, raw,
                   "the same reads and writes, raw")]  # fmt: skip


# Size and memory ---------------------------------------------------------------------------------


async def stored_size() -> int:
    store = open_store("memory://")
    service = Conversations(load_content(None, CONSTANTS), store, timedelta(hours=24))
    await conversation(service, "size")
    stored = await store.get("bench:T:size")
    assert stored is not None
    return len(stored.data.encode())


def memory_for(count: int) -> float:
    """Resident memory (MiB) of a fresh process holding `count` finished triages in the memory store."""
    code = f"""
import asyncio, resource, sys
sys.path.insert(0, {str(ROOT)!r})
from bench.run import conversation, CONSTANTS
from bot.content import load_content
from bot.conversations import Conversations
from bot.stores import open_store
from datetime import timedelta
async def main():
    service = Conversations(load_content(None, CONSTANTS), open_store("memory://"), timedelta(hours=24))
    def rss():
        with open("/proc/self/statm") as stat:
            return int(stat.read().split()[1]) * resource.getpagesize() / 2**20
    await conversation(service, "warm")
    before = rss()
    for n in range({count}):
        await conversation(service, f"m{{n}}")
    print(rss() - before)
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


# Scale: the cost of a turn as live conversations grow --------------------------------------------


async def bench_scale(counts: Sequence[int], rounds: int, sample: int) -> list[Row]:
    """Turns/s with each count of live conversations (midway through), against 1,000, in turn."""
    events = answers_as_events()
    services: dict[int, Conversations] = {}
    for count in (1_000, *counts):
        service = Conversations(load_content(None, CONSTANTS), open_store("memory://"), timedelta(hours=24))
        for n in range(count):
            key = ConversationKey("bench", "T", f"c{n}")
            for event in events[:3]:
                await service.handle(key, event)
        services[count] = service

    async def rate(count: int, slot: int, slots: int) -> float:
        # Keys spread over the whole store, a fresh set each time (each is taken three turns on):
        # the baseline's store is shared by every count, so its sets are set apart for each.
        stride = count // (slots * sample)
        assert stride >= 1, "too few conversations for the rounds and sample asked"
        keys = [ConversationKey("bench", "T", f"c{(slot + k * slots) * stride}") for k in range(sample)]
        started = time.perf_counter()
        for key in keys:
            for event in events[3:6]:
                await services[count].handle(key, event)
        return len(keys) * 3 / (time.perf_counter() - started)

    rows = []
    for index, count in enumerate(counts):
        ours, base = [], []
        for n, first in enumerate(turns(rounds)):
            for which in (first, 1 - first):
                if which == 0:
                    ours.append(await rate(count, n, rounds))
                else:
                    base.append(await rate(1_000, index * rounds + n, rounds * len(counts)))
        rows.append(paired(f"turns/s with {count:,} live conversations", "turns/s", "flat", ours, base,
                           "with 1,000", lower_is_better=False))  # fmt: skip
    for service in services.values():
        await service.store.close()
    return rows


# Slack over HTTP and cold start --------------------------------------------------------------------

SCENARIO_NAMES = {"help": "/knee help", "click": "click on Start", "dm": "typed DM"}
ACK_TARGETS = {"help": "≤ 1.5x", "click": "≤ 1.5x", "dm": "report"}
CPU_TARGETS = {"help": "report", "click": "≤ 3x", "dm": "report"}


def bench_slack(requests: dict[int, int], rounds: int, warmup: int) -> list[Row]:
    from bench.slack_http import measure

    found = measure(requests, rounds, warmup)
    rows = []
    bare = "a bare bolt app, process_before_response=True, doing the same Slack work"
    for (scenario, concurrency), runs in found.items():
        label = SCENARIO_NAMES[scenario]

        def figures(server: str, figure: str, runs: list[dict[str, dict[str, Any]]] = runs) -> list[float]:
            return [float(r[server][figure]) for r in runs]

        measures = [("p50", "ack p50", "ms", ACK_TARGETS[scenario], True)] if concurrency == 1 else [
            ("rps", "req/s, its Web API work done", "req/s", "report", False),
            ("cpu_us", "server CPU per request", "µs", CPU_TARGETS[scenario], True),
        ]  # fmt: skip
        for figure, what, unit, target, lower in measures:
            clients = f"{concurrency} client{'s' * (concurrency > 1)}"
            row = paired(f"Slack HTTP {label}, {clients}, {what}", unit, target,
                         figures("kneebot", figure), figures("bolt fast", figure), bare, lower,
                         figures("bolt default", figure))  # fmt: skip
            missing = sum(int(r[s]["missing"]) for r in runs for s in r)
            if missing:
                row["note"] = f"{missing} chat.postMessage calls never reached the double"
            rows.append(row)
    return rows


def bench_cold_start(rounds: int) -> list[Row]:
    from bench.slack_http import cold_start

    pairs = cold_start(rounds)
    return [paired("cold start of `kneebot slack --http`, exec to listening", "ms", "≤ 1.5x",
                   [k * 1e3 for k, _ in pairs], [b * 1e3 for _, b in pairs],
                   "a bare bolt app, exec to listening")]  # fmt: skip


def redis_url() -> tuple[str | None, Callable[[], None]]:
    if os.environ.get("KNEEBOT_BENCH_REDIS"):
        return os.environ["KNEEBOT_BENCH_REDIS"], lambda: None
    from shutil import which

    if which("redis-server") is None:
        return None, lambda: None
    from tests.redis_server import RedisServer

    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"kneebot-bench-redis-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    server = RedisServer(folder)
    server.start()
    return server.url, server.stop


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds: well under a minute")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)  # the tests' tiny run
    args = parser.parse_args()
    quick, scale = args.quick, args.scale

    def n(full: int, short: int, least: int = 2) -> int:
        return max(least, int((short if quick else full) * scale))

    started = time.perf_counter()
    rows: list[Row] = []
    mark(None)
    rows += bench_slack({1: n(100, 20, 3), 32: n(480, 96, 32)}, n(5, 2, 1), n(50, 10))
    mark("Slack HTTP")
    rows += bench_cold_start(n(6, 1, 1))
    mark("cold start")
    rows += bench_engine(n(400, 60))
    mark("engine")
    rows += asyncio.run(bench_store("memory://", "memory", n(100, 20)))
    sqlite = Path(os.environ.get("TMPDIR", "/tmp")) / f"kneebot-bench-{os.getpid()}.db"
    try:
        rows += asyncio.run(bench_store(f"sqlite:///{sqlite}", "SQLite", n(60, 10)))
    finally:
        for leftover in sqlite.parent.glob(sqlite.name + "*"):
            leftover.unlink()
    url, stop = redis_url()
    try:
        if url:
            rows += asyncio.run(bench_store(url, "Redis", n(60, 10)))
    finally:
        stop()
    mark("stores")
    size = asyncio.run(stored_size())
    rows.append({"name": "stored state at the end of a triage", "unit": "bytes", "target": "< 1 KB",
                 "value": size, "baseline": 1024, "ratio": size / 1024, "baseline_name": "1 KB",
                 "lower_is_better": True})  # fmt: skip
    live = n(10_000, 500, 100)
    held = memory_for(live)
    rows.append({"name": f"resident memory, {live:,} finished triages", "unit": "MiB", "target": "report",
                 "value": held, "baseline": live * size / 2**20, "ratio": held / (live * size / 2**20),
                 "baseline_name": "their stored JSON", "lower_is_better": True})  # fmt: skip
    mark("memory")
    counts = (10_000, 50_000) if not quick else (5_000,)
    rows += asyncio.run(bench_scale([max(2_000, int(c * scale)) for c in counts], n(5, 3), n(100, 30, 5)))
    mark("scale")
    gc.collect()
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "load": os.getloadavg(),
               "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip
    report = {"when": datetime.now(UTC).isoformat(), "quick": quick, "machine": machine,
              "seconds": time.perf_counter() - started, "rows": rows}  # fmt: skip
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {args.json} ({time.perf_counter() - started:.0f} s)")


_marked = [0.0]


def mark(done: str | None) -> None:
    """Say on stderr how long the part just done took."""
    now = time.perf_counter()
    if done:
        print(f"{done}: {now - _marked[0]:.1f} s", file=sys.stderr)
    _marked[0] = now


def print_table(rows: list[Row]) -> None:
    width = max(len(r["name"]) for r in rows)
    print(f"{'benchmark':<{width}}  {'kneebot':>16}  {'baseline':>12}  {'ratio':>7}  {'bolt default':>12}  "
          f"{'ratio':>7}  target")  # fmt: skip
    for r in rows:
        value = f"{r['value']:,.1f} {r['unit']}"
        baseline = f"{r['baseline']:,.1f}"
        default = f"{r['default_bolt']:,.1f}" if "default_bolt" in r else ""
        versus = f"{r['ratio_default']:.2f}x" if "ratio_default" in r else ""
        print(f"{r['name']:<{width}}  {value:>16}  {baseline:>12}  {r['ratio']:>6.2f}x  {default:>12}  "
              f"{versus:>7}  {r['target']}")  # fmt: skip
        if "note" in r:
            print(f"    ! {r['note']}")


if __name__ == "__main__":
    main()
