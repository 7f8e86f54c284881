// Index page: live status from the channel (node list, layout) and /bridge/status (every 2 s).
import { LiveChannel, showStatus } from "./live.js";

const STATUS_INTERVAL_MS = 2000;
const $ = (id) => document.getElementById(id);

const channel = new LiveChannel({ onStatus: showStatus($("channel")) });
channel.subscribe(["nodes", "layout"], (subject, state) => {
  if (subject === "layout") {
    $("layout").textContent = state.layout;
    return;
  }
  const nodes = state.nodes;
  const count = (pattern) => nodes.filter((node) => pattern.test(node.class)).length;
  $("node-count").textContent = String(nodes.length);
  $("volume-count").textContent = String(count(/VolumeNode$/));
  $("transform-count").textContent = String(count(/TransformNode$/));
  $("markups-count").textContent = String(count(/^vtkMRMLMarkups.*Node$/));
});
channel.connect();

async function refreshStatus() {
  try {
    const response = await fetch("bridge/status", { cache: "no-store" });
    const status = await response.json();
    const bus = status.bus;
    $("bus").textContent =
      `${bus.received} received · ${bus.applied} applied · ${bus.superseded} superseded · ` +
      `${bus.failed} failed · ${bus.passes} passes (≤ ${bus.max_rate}/s) · ` +
      `latency p50 ${bus.latency_ms.p50.toFixed(1)} ms, p99 ${bus.latency_ms.p99.toFixed(1)} ms`;
    $("adapters").textContent = Object.entries(status.adapters)
      .map(([name, adapter]) => `${name} ${(adapter.addresses || [adapter.listening || ""]).filter(Boolean).join(", ")}`)
      .join(" · ");
    document.body.dataset.statusVersion = status.version;
  } catch (error) {
    $("bus").textContent = `status unavailable: ${error.message}`;
  }
}
refreshStatus();
setInterval(refreshStatus, STATUS_INTERVAL_MS);
