"""`make bench` stays runnable: a tiny quick run writes every row, each beside a real baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_tiny_quick_bench_writes_every_row_with_a_positive_baseline(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--scale", "0.05", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {row["name"]: row for row in json.loads(out.read_text())["rows"]}
    wanted = [
        *(f"Slack HTTP {scenario}, {measure}"
          for scenario in ("/knee help", "click on Start", "typed DM")
          for measure in ("1 client, ack p50", "32 clients, req/s, its Web API work done",
                          "32 clients, server CPU per request")),
        "cold start of `kneebot slack --http`, exec to listening",
        "engine, median turn of a triage",
        "engine, whole triage",
        "whole triage via the service, memory",
        "whole triage via the service, SQLite",
        "stored state at the end of a triage",
    ]  # fmt: skip
    assert [name for name in wanted if name not in rows] == []
    for name, row in rows.items():
        assert row["baseline"] > 0, name
        assert row["value"] > 0, name
        assert "note" not in row, f"{name}: {row['note']}"  # every reply reached the Web API double
    for name in wanted[:9]:  # each Slack row beside both bare bolt apps, bolt's default mode too
        assert rows[name]["default_bolt"] > 0, name
    assert "engine, median turn of a triage" in run.stdout  # the table is printed as well
