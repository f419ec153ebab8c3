// A small line chart drawn as SVG: the last hour of one figure, no library.
const NS = 'http://www.w3.org/2000/svg';
const W = 600;
const H = 160;
const PAD = { left: 56, right: 8, top: 10, bottom: 22 };

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** points: [{ t: ms, v: number|null }]; format: value → label. */
export function drawChart(svg, points, format, windowMs = 3600_000, now = Date.now()) {
  svg.replaceChildren();
  const from = now - windowMs;
  const shown = points.filter((p) => p.t >= from && p.v !== null && Number.isFinite(p.v));
  const max = Math.max(1e-9, ...shown.map((p) => p.v));
  const x = (t) => PAD.left + ((t - from) / windowMs) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  svg.append(el('line', { class: 'axis', x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom }));
  svg.append(el('line', { class: 'axis', x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: H - PAD.bottom }));
  svg.append(el('text', { x: 4, y: PAD.top + 10 }, format(max)));
  svg.append(el('text', { x: 4, y: H - PAD.bottom }, format(0)));
  svg.append(el('text', { x: PAD.left, y: H - 4 }, '−60 min'));
  svg.append(el('text', { x: W - PAD.right - 24, y: H - 4 }, 'now'));
  if (shown.length === 0) {
    svg.append(el('text', { x: W / 2 - 40, y: H / 2 }, 'no data yet'));
    return;
  }
  const d = shown.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
  svg.append(el('polyline', { class: 'line', points: shown.length === 1 ? `${d} ${d}` : d }));
  const last = shown[shown.length - 1];
  svg.setAttribute('data-last', String(last.v));
}
