// Time cube: request → image → next request, in a closed loop; the cube shows the newest image.
import { LiveChannel, RateMeter } from "./live.js";

const canvas = document.getElementById("cube");
const context = canvas.getContext("2d");
const meter = new RateMeter(2);
const page = (window.timecube = { roundTrips: 0, mode: "rest", latencies: [] });
let texture = null;
let generation = 0; // bumps when the mode changes: a loop of an old mode stops

// -- drawing: an orthographic cube, each visible face an affine-mapped copy of the texture --
const CORNERS = [-1, 1].flatMap((x) => [-1, 1].flatMap((y) => [-1, 1].map((z) => [x, y, z])));
const FACES = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]];

function draw(time) {
  const { width, height } = canvas;
  context.setTransform(1, 0, 0, 1, 0, 0);
  context.fillStyle = "#223";
  context.fillRect(0, 0, width, height);
  const a = time / 2000;
  const b = time / 3100;
  const turn = ([x, y, z]) => {
    const x1 = x * Math.cos(a) - z * Math.sin(a);
    const z1 = x * Math.sin(a) + z * Math.cos(a);
    const y2 = y * Math.cos(b) - z1 * Math.sin(b);
    const z2 = y * Math.sin(b) + z1 * Math.cos(b);
    return [x1, y2, z2];
  };
  const size = width / 4.2;
  const points = CORNERS.map(turn);
  const screen = points.map(([x, y]) => [width / 2 + x * size, height / 2 - y * size]);
  for (const face of FACES) {
    const [p0, p1, , p3] = face.map((index) => points[index]);
    const normal = [
      (p1[1] - p0[1]) * (p3[2] - p0[2]) - (p1[2] - p0[2]) * (p3[1] - p0[1]),
      (p1[2] - p0[2]) * (p3[0] - p0[0]) - (p1[0] - p0[0]) * (p3[2] - p0[2]),
      (p1[0] - p0[0]) * (p3[1] - p0[1]) - (p1[1] - p0[1]) * (p3[0] - p0[0]),
    ];
    const facing = normal[2] / (Math.hypot(...normal) || 1);
    if (facing <= 0) continue;
    let [s0, s1, , s3] = face.map((index) => screen[index]);
    // keep the picture unmirrored: canvas x→y must turn the same way as s0→s1→s3 (y down)
    if ((s1[0] - s0[0]) * (s3[1] - s0[1]) - (s1[1] - s0[1]) * (s3[0] - s0[0]) < 0) [s1, s3] = [s3, s1];
    const w = texture ? texture.width : 1;
    const h = texture ? texture.height : 1;
    context.setTransform((s1[0] - s0[0]) / w, (s1[1] - s0[1]) / w, (s3[0] - s0[0]) / h, (s3[1] - s0[1]) / h, s0[0], s0[1]);
    context.fillStyle = "#eee";
    context.fillRect(0, 0, w, h);
    if (texture) context.drawImage(texture, 0, 0);
    context.fillStyle = `rgba(0,0,0,${(1 - facing) * 0.6})`;
    context.fillRect(0, 0, w, h);
  }
  requestAnimationFrame(draw);
}
requestAnimationFrame(draw);

function roundTrip(started) {
  const now = performance.now();
  page.roundTrips += 1;
  meter.tick(now);
  page.latencies.push(now - started);
  if (page.latencies.length > 100) page.latencies.shift();
}

setInterval(() => {
  document.getElementById("rate").textContent = meter.rate().toFixed(1);
  document.getElementById("count").textContent = String(page.roundTrips);
  const samples = page.latencies;
  if (samples.length) document.getElementById("latency").textContent = (samples.reduce((s, v) => s + v, 0) / samples.length).toFixed(1);
}, 500);

// -- REST: /slicer/timeimage with a random colour, the next request when it has loaded -------
function restLoop(mine) {
  if (mine !== generation) return;
  const image = new Image();
  const started = performance.now();
  const color = Math.floor(Math.random() * 0xfff).toString(16).padStart(3, "0");
  image.onload = () => {
    texture = image;
    roundTrip(started);
    restLoop(mine);
  };
  image.onerror = () => setTimeout(() => restLoop(mine), 1000);
  image.src = `slicer/timeimage?color=${color}&t=${Date.now()}`;
}

// -- WebSocket: SetSliceOffset, then wait for the frame that shows it -----------------------
let channel = null;
let waiting = null; // {id, started, mine}
let offset = 0;

function wsStart(mine) {
  if (!channel) {
    channel = new LiveChannel();
    channel.stream("view:red", { format: "jpeg", quality: 70, size: 128 }, async (header, image) => {
      texture = await createImageBitmap(image);
      if (waiting && Number(header.applied || 0) >= waiting.id) {
        const { started, mine: loop } = waiting;
        waiting = null;
        roundTrip(started);
        wsStep(loop);
      }
    });
    channel.onStatus = (status) => status === "open" && wsStep(generation);
    channel.connect();
  } else {
    wsStep(mine);
  }
}

function wsStep(mine) {
  if (mine !== generation || page.mode !== "ws" || !channel.connected) return;
  offset = offset >= 20 ? -20 : offset + 1;
  const id = channel.nextId;
  waiting = { id, started: performance.now(), mine };
  channel.command("SetSliceOffset", { view: "red", offset }).then((result) => {
    // a move that changed nothing (no volume) produces no frame: go on without one
    if (waiting && waiting.id === id && result.status !== "applied") wsStep(mine);
  }, () => {});
  setTimeout(() => waiting && waiting.id === id && ((waiting = null), wsStep(mine)), 2000);
}

function start(mode) {
  generation += 1;
  page.mode = mode;
  page.latencies = [];
  if (mode === "rest") restLoop(generation);
  else wsStart(generation);
}

document.getElementById("load-sample").addEventListener("click", () => fetch("slicer/sampledata?name=Phantom"));

for (const radio of document.querySelectorAll("input[name=mode]")) {
  radio.addEventListener("change", () => radio.checked && start(radio.value));
}
const requested = new URLSearchParams(location.search).get("mode");
if (requested === "ws") document.querySelector("input[value=ws]").checked = true;
// After "load": images requested before it would hold the page's load event back forever.
const begin = () => start(requested === "ws" ? "ws" : "rest");
if (document.readyState === "complete") begin();
else window.addEventListener("load", begin, { once: true });
