// A tiny 3D renderer on a 2D canvas: an orbiting perspective camera, lines, shaded boxes and
// point glyphs in RAS millimetres, drawn back to front (painter's algorithm).
// Enough to follow tracked tools and markups live; no WebGL, no dependencies.

export const mat4 = {
  identity: () => [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
  apply(m, [x, y, z]) {
    return [
      m[0][0] * x + m[0][1] * y + m[0][2] * z + m[0][3],
      m[1][0] * x + m[1][1] * y + m[1][2] * z + m[1][3],
      m[2][0] * x + m[2][1] * y + m[2][2] * z + m[2][3],
    ];
  },
};

const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const norm = (a) => {
  const length = Math.hypot(...a) || 1;
  return [a[0] / length, a[1] / length, a[2] / length];
};

/** A camera orbiting `target`: azimuth around S (superior), elevation above the axial plane. */
export class OrbitCamera {
  constructor({ azimuth = 160, elevation = 20, distance = 700, target = [0, 0, 0], fov = 30 } = {}) {
    Object.assign(this, { azimuth, elevation, distance, target, fov });
  }
  get eye() {
    const a = (this.azimuth * Math.PI) / 180;
    const e = (this.elevation * Math.PI) / 180;
    const t = this.target;
    return [
      t[0] + this.distance * Math.cos(e) * Math.sin(a),
      t[1] - this.distance * Math.cos(e) * Math.cos(a),
      t[2] + this.distance * Math.sin(e),
    ];
  }
  orbit(dx, dy) {
    this.azimuth -= dx * 0.4;
    this.elevation = Math.max(-89, Math.min(89, this.elevation + dy * 0.4));
  }
  zoom(factor) {
    this.distance = Math.max(50, Math.min(5000, this.distance * factor));
  }
}

/** Projects RAS points for one frame: [x, y on canvas, depth], or null behind the eye. */
export function projector(camera, width, height) {
  const eye = camera.eye;
  const forward = norm(sub(camera.target, eye));
  let right = cross(forward, [0, 0, 1]);
  if (Math.hypot(...right) < 1e-6) right = [1, 0, 0];
  right = norm(right);
  const up = cross(right, forward);
  const focal = height / 2 / Math.tan((camera.fov * Math.PI) / 360);
  return (point) => {
    const relative = sub(point, eye);
    const depth = dot(relative, forward);
    if (depth < 1) return null;
    return [width / 2 + (focal * dot(relative, right)) / depth, height / 2 - (focal * dot(relative, up)) / depth, depth, focal / depth];
  };
}

/** Draws one scene description: {grid, axes, boxes: [{matrix, size, color, label}],
 *  triads: [{matrix, length}], points: [{position, radius, color, label}]}. */
export function drawScene(canvas, camera, scene) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  const project = projector(camera, width, height);
  const background = context.createLinearGradient(0, 0, 0, height);
  background.addColorStop(0, "#7478be");
  background.addColorStop(1, "#c1c3e8");
  context.fillStyle = background;
  context.fillRect(0, 0, width, height);
  const items = []; // {depth, draw}
  const line = (a, b, color, widthPx = 1) => {
    const pa = project(a);
    const pb = project(b);
    if (!pa || !pb) return;
    items.push({
      depth: (pa[2] + pb[2]) / 2,
      draw() {
        context.strokeStyle = color;
        context.lineWidth = widthPx;
        context.beginPath();
        context.moveTo(pa[0], pa[1]);
        context.lineTo(pb[0], pb[1]);
        context.stroke();
      },
    });
  };
  if (scene.grid) {
    const { half = 200, step = 50 } = scene.grid;
    for (let v = -half; v <= half; v += step) {
      line([v, -half, 0], [v, half, 0], "rgba(255,255,255,0.35)");
      line([-half, v, 0], [half, v, 0], "rgba(255,255,255,0.35)");
    }
  }
  if (scene.axes) {
    const length = scene.axes;
    line([0, 0, 0], [length, 0, 0], "#d22", 2);
    line([0, 0, 0], [0, length, 0], "#2a2", 2);
    line([0, 0, 0], [0, 0, length], "#22d", 2);
  }
  for (const box of scene.boxes || []) addBox(items, project, camera, box, context);
  for (const triad of scene.triads || []) {
    const origin = mat4.apply(triad.matrix, [0, 0, 0]);
    const length = triad.length || 30;
    line(origin, mat4.apply(triad.matrix, [length, 0, 0]), "#e33", 2);
    line(origin, mat4.apply(triad.matrix, [0, length, 0]), "#3b3", 2);
    line(origin, mat4.apply(triad.matrix, [0, 0, length]), "#33e", 2);
  }
  for (const point of scene.points || []) {
    const p = project(point.position);
    if (!p) continue;
    items.push({
      depth: p[2],
      draw() {
        const radius = Math.max(2, point.radius * p[3]);
        const gradient = context.createRadialGradient(p[0] - radius / 3, p[1] - radius / 3, radius / 5, p[0], p[1], radius);
        gradient.addColorStop(0, "#fff");
        gradient.addColorStop(0.3, point.color);
        gradient.addColorStop(1, "#000");
        context.fillStyle = gradient;
        context.beginPath();
        context.arc(p[0], p[1], radius, 0, 2 * Math.PI);
        context.fill();
        if (point.label) label(context, point.label, p[0] + radius + 2, p[1] - radius);
      },
    });
  }
  items.sort((a, b) => b.depth - a.depth);
  for (const item of items) item.draw();
}

function addBox(items, project, camera, box, context) {
  const [sx, sy, sz] = box.size.map((s) => s / 2);
  const corners = [];
  for (const x of [-sx, sx]) for (const y of [-sy, sy]) for (const z of [-sz, sz]) corners.push(mat4.apply(box.matrix, [x, y, z]));
  // corner index = 4·(x>0) + 2·(y>0) + (z>0), faces counter-clockwise from outside
  const faces = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]];
  const eye = camera.eye;
  const [r, g, b] = box.color.map((c) => Math.round(c * 255));
  for (const face of faces) {
    const points = face.map((index) => corners[index]);
    const normal = norm(cross(sub(points[1], points[0]), sub(points[3], points[0])));
    const centre = points.reduce((sum, p) => [sum[0] + p[0] / 4, sum[1] + p[1] / 4, sum[2] + p[2] / 4], [0, 0, 0]);
    const toEye = norm(sub(eye, centre));
    const facing = dot(normal, toEye);
    if (facing <= 0) continue;
    const projected = points.map(project);
    if (projected.some((p) => !p)) continue;
    const light = 0.3 + 0.7 * facing;
    items.push({
      depth: projected.reduce((sum, p) => sum + p[2], 0) / 4,
      draw() {
        context.fillStyle = `rgb(${Math.round(r * light)},${Math.round(g * light)},${Math.round(b * light)})`;
        context.strokeStyle = "rgba(0,0,0,0.4)";
        context.lineWidth = 1;
        context.beginPath();
        projected.forEach((p, index) => (index ? context.lineTo(p[0], p[1]) : context.moveTo(p[0], p[1])));
        context.closePath();
        context.fill();
        context.stroke();
      },
    });
  }
  if (box.label) {
    const p = project(mat4.apply(box.matrix, [sx, sy, sz]));
    if (p) items.push({ depth: p[2] - 1, draw: () => label(context, box.label, p[0] + 4, p[1] - 4) });
  }
}

function label(context, text, x, y) {
  context.font = "12px system-ui, sans-serif";
  context.lineWidth = 3;
  context.strokeStyle = "rgba(0,0,0,0.6)";
  context.strokeText(text, x, y);
  context.fillStyle = "#fff";
  context.fillText(text, x, y);
}

/** Drag to orbit, wheel to zoom; calls `changed()` after each move. */
export function orbitControls(canvas, camera, changed) {
  let last = null;
  canvas.addEventListener("pointerdown", (event) => {
    last = [event.clientX, event.clientY];
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    camera.orbit(event.clientX - last[0], event.clientY - last[1]);
    last = [event.clientX, event.clientY];
    changed();
  });
  const stop = () => (last = null);
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  canvas.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      camera.zoom(event.deltaY > 0 ? 1.1 : 1 / 1.1);
      changed();
    },
    { passive: false },
  );
}
