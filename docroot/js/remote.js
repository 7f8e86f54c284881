// Remote view page: stream view:red and view:3d, draw each frame, ack it; drag → commands.
import { LiveChannel, RateMeter, showStatus } from "./live.js";

const VIEWS = ["red", "3d"];
const page = (window.remoteView = { frames: { red: 0, "3d": 0 }, latencies: { red: [], "3d": [] }, camera: null, slice: null, commands: 0 });
const meters = { red: new RateMeter(), "3d": new RateMeter() };
const awaiting = { red: [], "3d": [] }; // ids of interactions not yet seen in a frame
const canvases = Object.fromEntries(VIEWS.map((view) => [view, document.getElementById(`view-${view}`)]));
const controls = {
  format: document.getElementById("format"),
  quality: document.getElementById("quality"),
  size: document.getElementById("size"),
};

const channel = new LiveChannel({ onStatus: showStatus(document.getElementById("status")) });

function streamOptions() {
  const size = Number(controls.size.value);
  return { format: controls.format.value, quality: Number(controls.quality.value), size };
}

for (const view of VIEWS) {
  channel.stream(`view:${view}`, streamOptions(), (header, image) => drawFrame(view, header, image));
}
for (const element of Object.values(controls)) {
  element.addEventListener("change", () => {
    const options = streamOptions();
    for (const view of VIEWS) {
      canvases[view].width = canvases[view].height = options.size;
      channel.restream(`view:${view}`, options);
    }
  });
}

async function drawFrame(view, header, image) {
  const bitmap = await createImageBitmap(image);
  const canvas = canvases[view];
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  const now = performance.now();
  meters[view].tick(now);
  page.frames[view] += 1;
  canvas.dataset.frames = String(page.frames[view]);
  const applied = Number(header.applied || 0);
  while (awaiting[view].length && awaiting[view][0] <= applied) {
    const id = awaiting[view].shift();
    const sent = channel.sentAt.get(String(id));
    if (sent !== undefined) {
      const samples = page.latencies[view];
      samples.push(now - sent);
      if (samples.length > 50) samples.shift();
    }
  }
  const figure = canvas.closest("figure");
  figure.querySelector(".detail").textContent = `${header.format} ${(header.bytes / 1024).toFixed(1)} KiB, rendered in ${header.render_ms.toFixed(1)} ms`;
}

setInterval(() => {
  for (const view of VIEWS) {
    const figure = canvases[view].closest("figure");
    figure.querySelector(".fps").textContent = meters[view].rate().toFixed(1);
    const samples = page.latencies[view];
    if (samples.length) {
      const sorted = [...samples].sort((a, b) => a - b);
      figure.querySelector(".latency").textContent = `${sorted[Math.floor(sorted.length / 2)].toFixed(0)} (median of ${samples.length})`;
    }
  }
}, 500);

channel.subscribe(["view:red", "view:3d"], (subject, state) => {
  if (subject === "view:3d") page.camera = state;
  else page.slice = state;
});
channel.connect();

// -- interactions: one command in flight per view, the latest move waiting behind it --------
const inFlight = { red: false, "3d": false };
const queued = { red: null, "3d": null };

function interact(view, kind, fields) {
  if (inFlight[view]) {
    queued[view] = [kind, fields];
    return;
  }
  inFlight[view] = true;
  const id = channel.nextId; // the id command() is about to use
  awaiting[view].push(id);
  page.commands += 1;
  channel
    .command(kind, fields)
    .catch((error) => console.warn(kind, error.message))
    .finally(() => {
      inFlight[view] = false;
      const next = queued[view];
      queued[view] = null;
      if (next) interact(view, ...next);
    });
}

// 3D: drag rotates the camera about its focal point (azimuth about view-up, elevation about
// the camera's right), as VTK's trackball camera does.
let drag3d = null;
canvases["3d"].addEventListener("pointerdown", (event) => {
  if (!page.camera) return;
  drag3d = { x: event.clientX, y: event.clientY, camera: page.camera };
  canvases["3d"].setPointerCapture(event.pointerId);
});
canvases["3d"].addEventListener("pointermove", (event) => {
  if (!drag3d) return;
  const camera = orbit(drag3d.camera, event.clientX - drag3d.x, event.clientY - drag3d.y);
  interact("3d", "SetCamera", camera);
});
for (const type of ["pointerup", "pointercancel"]) canvases["3d"].addEventListener(type, () => (drag3d = null));

// Slice: vertical drag scrolls by the view's millimetres per pixel; the wheel by 1 mm.
let dragSlice = null;
canvases.red.addEventListener("pointerdown", (event) => {
  if (!page.slice) return;
  dragSlice = { y: event.clientY, offset: page.slice.offset };
  canvases.red.setPointerCapture(event.pointerId);
});
canvases.red.addEventListener("pointermove", (event) => {
  if (!dragSlice) return;
  const mmPerPixel = page.slice.field_of_view[1] / canvases.red.clientHeight;
  interact("red", "SetSliceOffset", { view: "red", offset: dragSlice.offset + (dragSlice.y - event.clientY) * mmPerPixel });
});
for (const type of ["pointerup", "pointercancel"]) canvases.red.addEventListener(type, () => (dragSlice = null));
canvases.red.addEventListener(
  "wheel",
  (event) => {
    event.preventDefault();
    if (!page.slice) return;
    page.slice = { ...page.slice, offset: page.slice.offset + (event.deltaY < 0 ? 1 : -1) };
    interact("red", "SetSliceOffset", { view: "red", offset: page.slice.offset });
  },
  { passive: false },
);

document.getElementById("load-sample").addEventListener("click", () => channel.command("LoadSampleData", { name: "Phantom" }));

// -- camera geometry ----------------------------------------------------------------------
const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const scale = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const unit = (a) => scale(a, 1 / (Math.hypot(...a) || 1));

/** Rodrigues: `v` turned by `angle` radians about the unit `axis`. */
function rotate(v, axis, angle) {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  return add(add(scale(v, cos), scale(cross(axis, v), sin)), scale(axis, dot(axis, v) * (1 - cos)));
}

function orbit(camera, dx, dy) {
  const focal = camera.focal_point;
  let offset = sub(camera.position, focal);
  let up = unit(camera.view_up);
  offset = rotate(offset, up, (-dx * Math.PI) / 360);
  const right = unit(cross(up, offset));
  offset = rotate(offset, right, (dy * Math.PI) / 360);
  up = rotate(up, right, (dy * Math.PI) / 360);
  const direction = unit(offset);
  up = unit(sub(up, scale(direction, dot(up, direction))));
  return { view: "3d", position: add(focal, offset), focal_point: focal, view_up: up };
}
