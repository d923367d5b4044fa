"""kneebot benchmarks: every figure beside a baseline measured in the same run, as a ratio.

    python bench/run.py [--quick] [--json bench/results/latest.json]

Prints one table and writes it as JSON. A benchmark reports; it never fails the build.
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
from collections.abc import Callable
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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def row(
    name: str, value: float, baseline: float, unit: str, target: str, lower_is_better: bool = True
) -> Row:
    ratio = value / baseline if baseline else float("inf")
    return {
        "name": name, "value": value, "baseline": baseline, "unit": unit, "ratio": ratio, "target": target,
        "lower_is_better": lower_is_better,
    }  # fmt: skip


# 1. Engine step against a hand-written state machine of the same flow ---------------------------


def answers_as_events() -> list[Event]:
    return [Event("answer", NOW, value="start")] + [
        Event("answer", NOW, value=tuple(v) if isinstance(v, list) else v) for v in ANSWERS.values()
    ]


def bench_engine(rounds: int) -> list[Row]:
    content = load_content(None, CONSTANTS)
    events = answers_as_events()
    turns: list[float] = []
    floor: list[float] = []
    for _ in range(rounds):
        state: State | None = None
        for event in events:
            started = time.perf_counter()
            result = engine.step(content, state, event)
            turns.append(time.perf_counter() - started)
            state = result.state
        assert state is not None
        assert state.finished
        per_turn = floor_triage()
        floor.extend(per_turn)
    median = statistics.median
    return [
        row("engine step, median per turn", median(turns) * 1e6, median(floor) * 1e6, "µs", "≤ 3x"),
        row("engine step, p99 per turn", percentile(turns, 0.99) * 1e6, percentile(floor, 0.99) * 1e6, "µs",
            "≤ 3x"),
    ]  # fmt: skip


# 2. A whole conversation through the service, per store, against the raw store operations -------


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
    content = load_content(None, CONSTANTS)
    store = open_store(url)
    service = Conversations(content, store, timedelta(hours=24))
    data = '{"facts":{"red_flags":["none"],"onset":"gradual"},"asking":"age"}'
    started = time.perf_counter()
    for n in range(count):
        await conversation(service, f"s{n}")
    whole = (time.perf_counter() - started) / count
    started = time.perf_counter()
    for n in range(count):
        await raw_ops(store, f"r{n}", data)
    raw = (time.perf_counter() - started) / count
    await store.close()
    return [row(f"whole triage via the service, {label}", whole * 1e3, raw * 1e3, "ms", "report")]


# 5. Size and memory ------------------------------------------------------------------------------


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


# 6. Scale: cost per turn as conversations grow ----------------------------------------------------


async def turns_per_second(conversations: int, sample: int) -> float:
    store = open_store("memory://")
    service = Conversations(load_content(None, CONSTANTS), store, timedelta(hours=24))
    events = answers_as_events()
    # Fill the store with live conversations midway through, then time turns spread across them.
    for n in range(conversations):
        key = ConversationKey("bench", "T", f"c{n}")
        for event in events[:3]:
            await service.handle(key, event)
    step = max(1, conversations // sample)
    keys = [ConversationKey("bench", "T", f"c{n}") for n in range(0, conversations, step)][:sample]
    started = time.perf_counter()
    for key in keys:
        for event in events[3:6]:
            await service.handle(key, event)
    elapsed = time.perf_counter() - started
    await store.close()
    return len(keys) * 3 / elapsed


# 4. Cold start -------------------------------------------------------------------------------------


def timed(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_cold_start(runs: int) -> list[Row]:
    env = {**os.environ, "KNEEBOT_STORE": "memory://"}
    kneebot = [sys.executable, "-m", "bot", "chat", "--json"]
    ready = timed(kneebot, env, runs)
    floor = timed([sys.executable, "-c", "import slack_bolt, discord"], env, runs)
    return [row("cold start to the first answer", ready * 1e3, floor * 1e3, "ms", "≤ 1.5x")]


# 3. Slack HTTP end to end ---------------------------------------------------------------------------


def bench_slack(requests: int) -> list[Row]:
    from bench.slack_http import measure

    rows = []
    for concurrency in (1, 32):
        ours, bare = measure(requests, concurrency)
        rows.append(
            row(
                f"Slack HTTP /knee help, concurrency {concurrency}, req/s",
                ours["rps"],
                bare["rps"],
                "req/s",
                "≥ 1/1.2",
                lower_is_better=False,
            )
        )
        rows.append(
            row(
                f"Slack HTTP /knee help, concurrency {concurrency}, p99",
                ours["p99"],
                bare["p99"],
                "ms",
                "≤ 1.2x",
            )
        )
    return rows  # fmt: skip


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke run")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args()
    quick = args.quick
    rows: list[Row] = []
    rows += bench_engine(50 if quick else 400)
    rows += asyncio.run(bench_store("memory://", "memory", 50 if quick else 300))
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    sqlite = folder / f"kneebot-bench-{os.getpid()}.db"
    rows += asyncio.run(bench_store(f"sqlite:///{sqlite}", "SQLite", 30 if quick else 200))
    url, stop = redis_url()
    try:
        if url:
            rows += asyncio.run(bench_store(url, "Redis", 30 if quick else 200))
    finally:
        stop()
    rows += bench_slack(300 if quick else 3000)
    rows += bench_cold_start(3 if quick else 10)
    size = asyncio.run(stored_size())
    rows.append(row("stored state at the end of a triage", size, 1024, "bytes", "< 1 KB"))
    live = 10_000 if quick else 100_000
    held = memory_for(live)
    rows.append(row(f"resident memory, {live:,} conversations", held, live * size / 2**20, "MiB", "report"))
    sample = 300 if quick else 2000
    asyncio.run(turns_per_second(1_000, sample))  # warm up, so the baseline is not the coldest run
    base = max(asyncio.run(turns_per_second(1_000, sample)) for _ in range(3))
    for count in (1_000, 10_000, 100_000 if not quick else 20_000):
        rate = max(asyncio.run(turns_per_second(count, sample)) for _ in range(2))
        rows.append(row(f"turns/s with {count:,} conversations", rate, base, "turns/s", "flat",
                        lower_is_better=False))  # fmt: skip
    gc.collect()
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": sys.version.split()[0], "cpus": os.cpu_count(),
               "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip
    args.json.write_text(json.dumps({"when": datetime.now(UTC).isoformat(), "machine": machine,
                                     "rows": rows}, indent=2))  # fmt: skip
    print(f"\nwritten to {args.json}")


def print_table(rows: list[Row]) -> None:
    width = max(len(r["name"]) for r in rows)
    print(f"{'benchmark':<{width}}  {'value':>12}  {'baseline':>12}  {'ratio':>7}  target")
    for r in rows:
        value = f"{r['value']:,.1f} {r['unit']}"
        baseline = f"{r['baseline']:,.1f}"
        print(f"{r['name']:<{width}}  {value:>12}  {baseline:>12}  {r['ratio']:>6.2f}x  {r['target']}")


if __name__ == "__main__":
    main()
