"""`/bridge/status` and `/bridge/metrics` over real sockets, after real commands went through
the bus."""

from __future__ import annotations

import math
import re
from collections import defaultdict

from adapters.http.metrics import flatten_numbers
from bridge import __version__
from bridge import commands as c

SAMPLE_LINE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?:\{(?P<labels>[^{}]*)\})? "
    r"(?P<value>[-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))$"
)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by metric name; fails on any line the text format does not allow."""
    assert text.endswith("\n")
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in types, f"family {name} declared twice"
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE_LINE.match(line)
        assert match, f"not a sample line: {line!r}"
        labels = dict(LABEL.findall(match["labels"] or ""))
        samples[match["name"]].append((labels, float(match["value"])))
    for name in samples:
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or family in types, f"{name} has no TYPE line"
    return samples


async def submit_some_commands(bridge) -> None:
    await bridge.bus.submit(c.SetSliceOffset(view="red", offset=3.0, source="http:test"))
    await bridge.bus.submit(c.SetSliceOffset(view="red", offset=4.0, source="http:test"))
    await bridge.bus.submit(c.DeleteNodes(nodes=("vtkMRMLNope1",), source="mqtt:test"))


async def test_status_reports_version_uptime_adapters_and_bus(http_bridge, http_session) -> None:
    await submit_some_commands(http_bridge.bridge)
    async with http_session.get(http_bridge.url("/bridge/status")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Cache-Control"] == "no-cache"
        status = await response.json()
    assert status["version"] == __version__
    assert status["uptime_s"] >= 0
    http = status["adapters"]["http"]
    assert http["port"] == http_bridge.port
    assert http["urls"][0] == f"http://127.0.0.1:{http_bridge.port}"
    assert http["exec"] is False and http["cors"] is False and http["token"] is False
    bus = status["bus"]
    assert bus["received"] == 3 and bus["applied"] == 2 and bus["failed"] == 1
    assert bus["by_kind"]["SetSliceOffset"]["applied"] == 2
    assert bus["by_source"]["mqtt:test"]["failed"] == 1
    latency = bus["by_kind"]["SetSliceOffset"]["latency_ms"]
    assert latency["count"] == 2 and 0 < latency["p50"] <= latency["p99"] <= latency["max"]


async def test_status_counts_http_requests_by_surface_and_status(http_bridge, http_session) -> None:
    for path in ("/bridge/status", "/bridge/nothing", "/"):
        async with http_session.get(http_bridge.url(path)) as response:
            await response.read()
    async with http_session.get(http_bridge.url("/bridge/status")) as response:
        http = (await response.json())["adapters"]["http"]
    by_surface = http["requests"]["by_surface"]
    assert by_surface["bridge"]["by_status"] == {"200": 1, "404": 1}
    assert by_surface["static"]["by_status"] == {"200": 1}
    assert http["requests_in_flight"] == 1  # this very request


async def test_metrics_are_valid_prometheus_text_with_bus_counters(
    http_bridge, http_session
) -> None:
    await submit_some_commands(http_bridge.bridge)
    async with http_session.get(http_bridge.url("/bridge/metrics")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        samples = parse_prometheus(await response.text())
    assert samples["slicer_bridge_info"] == [
        ({"version": __version__, "scene": "HeadlessScene"}, 1.0)
    ]
    commands = {
        (labels["kind"], labels["outcome"]): value
        for labels, value in samples["slicer_bridge_commands_total"]
    }
    assert commands[("SetSliceOffset", "applied")] == 2
    assert commands[("DeleteNodes", "failed")] == 1
    by_source = {
        (labels["source"], labels["outcome"]): value
        for labels, value in samples["slicer_bridge_source_commands_total"]
    }
    assert by_source[("http:test", "applied")] == 2
    assert by_source[("mqtt:test", "failed")] == 1


async def test_metrics_latency_histograms_have_cumulative_le_buckets(
    http_bridge, http_session
) -> None:
    await submit_some_commands(http_bridge.bridge)
    async with http_session.get(http_bridge.url("/bridge/metrics")) as response:
        samples = parse_prometheus(await response.text())
    name = "slicer_bridge_command_latency_seconds"
    buckets = [
        (float(labels["le"]), value)
        for labels, value in samples[f"{name}_bucket"]
        if labels["kind"] == "SetSliceOffset"
    ]
    bounds = [bound for bound, _ in buckets]
    counts = [count for _, count in buckets]
    assert bounds == sorted(bounds) and math.isinf(bounds[-1])
    assert counts == sorted(counts), "buckets must be cumulative"
    assert counts[-1] == 2
    count = dict((labels["kind"], v) for labels, v in samples[f"{name}_count"])
    assert count["SetSliceOffset"] == 2
    total = dict((labels["kind"], v) for labels, v in samples[f"{name}_sum"])
    assert total["SetSliceOffset"] > 0
    assert samples["slicer_bridge_apply_pass_seconds_count"][0][1] >= 1


async def test_metrics_include_the_http_adapter_counters(http_bridge, http_session) -> None:
    async with http_session.get(http_bridge.url("/bridge/nothing")) as response:
        await response.read()
    async with http_session.get(http_bridge.url("/bridge/metrics")) as response:
        samples = parse_prometheus(await response.text())
    requests = {
        (labels["surface"], labels["status"]): value
        for labels, value in samples["slicer_bridge_adapter_requests"]
        if labels["adapter"] == "http"
    }
    assert requests[("bridge", "404")] == 1
    assert samples["slicer_bridge_adapter_port"] == [({"adapter": "http"}, http_bridge.port)]


def test_adapter_status_is_flattened_into_names_and_labels() -> None:
    status = {
        "port": 18944,
        "connected": True,
        "name": "not a number",
        "peers": {"127.0.0.1:5555": {"messages": 3}},
        "messages": {"by_type": {"TRANSFORM": 7, "IMAGE": 1}},
        "rate": float("nan"),
    }
    flat = {(path, tuple(sorted(labels.items()))): value for path, labels, value in
            flatten_numbers(status)}  # fmt: skip
    assert flat == {
        ("port", ()): 18944,
        ("connected", ()): True,
        ("peers_messages", (("key", "127.0.0.1:5555"),)): 3,
        ("messages", (("type", "TRANSFORM"),)): 7,
        ("messages", (("type", "IMAGE"),)): 1,
    }
