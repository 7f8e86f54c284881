// Live tracking page: transforms as tools, markups as points, redrawn on every delivery.
import { LiveChannel, RateMeter, showStatus } from "./live.js";
import { OrbitCamera, drawScene, mat4, orbitControls } from "./scene3d.js";

const TOOL_SIZE = [30, 70, 5]; // the /slicer/tracking device cube (mm)
const TOOL_COLORS = [[1, 1, 0], [0.3, 0.9, 1], [1, 0.5, 0.2], [0.6, 1, 0.4], [1, 0.4, 0.8]];

const canvas = document.getElementById("view");
const camera = new OrbitCamera();
const tools = new Map(); // subject → {name, world}
const markups = new Map(); // subject → {name, state}
const meter = new RateMeter();
const page = (window.liveTracking = { updates: 0, tools: {}, markups: {}, status: "connecting" });
let drawPending = false;

function redraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    draw();
  });
}

function draw() {
  const boxes = [];
  const triads = [];
  let index = 0;
  for (const tool of tools.values()) {
    if (!tool.world) continue;
    const color = TOOL_COLORS[index++ % TOOL_COLORS.length];
    boxes.push({ matrix: tool.world, size: TOOL_SIZE, color, label: tool.name });
    triads.push({ matrix: tool.world, length: 40 });
  }
  const points = [];
  for (const { name, state } of markups.values()) {
    const world = state.world || mat4.identity();
    const color = `rgb(${state.color.map((c) => Math.round(c * 255)).join(",")})`;
    state.points.forEach((position, i) => {
      if (state.visible && state.visible[i] === false) return;
      points.push({ position: mat4.apply(world, position), radius: state.glyph_scale * 1.5, color, label: state.labels[i] || name });
    });
  }
  drawScene(canvas, camera, { grid: { half: 250, step: 50 }, axes: 60, boxes, triads, points });
  canvas.dataset.draws = String(Number(canvas.dataset.draws || 0) + 1);
}

function fillTables() {
  const toolRows = [...tools.values()].map((tool) => {
    const position = tool.world ? [0, 1, 2].map((row) => tool.world[row][3].toFixed(1)) : ["–", "–", "–"];
    return `<tr><td>${escape(tool.name)}</td><td>${position.join("</td><td>")}</td></tr>`;
  });
  document.querySelector("#tools tbody").innerHTML = toolRows.join("");
  const markupRows = [...markups.values()].map(({ name, state }) => `<tr><td>${escape(name)}</td><td>${state.points.length}</td></tr>`);
  document.querySelector("#markups tbody").innerHTML = markupRows.join("");
}

function escape(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function onState(subject, state, node) {
  page.updates += 1;
  meter.tick();
  const [kind] = subject.split(":");
  const name = node ? node.name : subject.slice(kind.length + 1);
  if (kind === "transform") {
    if (state && state.world) {
      tools.set(subject, { name, world: state.world });
      page.tools[name] = [0, 1, 2].map((row) => state.world[row][3]);
    } else {
      tools.delete(subject);
      delete page.tools[name];
    }
  } else if (kind === "markups") {
    if (state) {
      markups.set(subject, { name, state });
      page.markups[name] = state.points.length;
    } else {
      markups.delete(subject);
      delete page.markups[name];
    }
  }
  fillTables();
  redraw();
}

const statusElement = document.getElementById("status");
const channel = new LiveChannel({
  onStatus: (status) => {
    page.status = status;
    showStatus(statusElement)(status);
    if (status !== "open") {
      tools.clear();
      markups.clear();
    }
  },
});
channel.subscribe(["transform:*", "markups:*"], onState);
channel.connect();

orbitControls(canvas, camera, redraw);
canvas.addEventListener("dblclick", () => {
  Object.assign(camera, new OrbitCamera());
  redraw();
});
setInterval(() => {
  document.getElementById("rate").textContent = meter.rate().toFixed(1);
}, 500);
redraw();
