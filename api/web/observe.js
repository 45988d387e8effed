// Grid dashboard, observability part: the event stream over fetch (so the
// bearer token travels in a header, never in a URL), the trend charts from
// /api/grid/timeseries, the failover strip from leader_elected events and
// the entity page (#/entity/ID) with the entity's neighbourhood in the event
// graph. Plain JavaScript and SVG, no build step; app.js calls init.
'use strict';

window.GridObserve = (function () {
  let h = null; // helpers from app.js: api, el, svg, byId, token, base

  // ---------- FetchEventSource: EventSource over fetch, with headers ----------

  class FetchEventSource {
    constructor(url, token) {
      this.listeners = {};
      this.onerror = null;
      this.ctrl = new AbortController();
      this.closed = false;
      const headers = { Accept: 'text/event-stream' };
      if (token) headers.Authorization = 'Bearer ' + token;
      fetch(url, { headers, cache: 'no-store', signal: this.ctrl.signal }).then((resp) => {
        if (!resp.ok || !resp.body) throw new Error('stream: HTTP ' + resp.status);
        this.dispatch('open', {});
        return this.read(resp.body.getReader());
      }).then(() => this.fail(), () => this.fail());
    }

    addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }

    dispatch(type, ev) { for (const fn of this.listeners[type] || []) fn(ev); }

    fail() {
      if (this.closed) return;
      this.closed = true;
      if (this.onerror) this.onerror(new Event('error'));
    }

    close() { this.closed = true; this.ctrl.abort(); }

    async read(reader) {
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.closed) return;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let type = 'message', data = [], id = '';
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const c = line.indexOf(':');
            const k = c < 0 ? line : line.slice(0, c);
            const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (k === 'event') type = v; else if (k === 'data') data.push(v); else if (k === 'id') id = v;
          }
          if (data.length) this.dispatch(type, { data: data.join('\n'), lastEventId: id });
        }
      }
    }
  }

  // ---------- charts ----------

  const COLORS = ['#58a6ff', '#3fb950', '#d29922', '#a371f7', '#ff7b72', '#79c0ff', '#f778ba', '#56d364', '#e3b341', '#8b949e'];
  const HOUR = 3600 * 1000;

  function fmtTime(t) { return new Date(t).toLocaleTimeString([], { hour12: false, hour: '2-digit', minute: '2-digit' }); }

  // lineChart draws series [{name, points: [[t, v]...]}] with time on x.
  function lineChart(id, title, series, unit, t0, t1, bars) {
    const W = 480, H = 170, L = 44, R = 8, T = 20, B = 22;
    const s = h.svg;
    const root = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, 'data-testid': id });
    root.append(s('text', { x: L, y: 13, class: 'chart-title' }, title));
    let max = 0;
    for (const se of series) for (const [, v] of se.points) if (v > max) max = v;
    if (max <= 0) max = 1;
    const span = Math.max(t1 - t0, 60000);
    const x = (t) => L + ((t - t0) / span) * (W - L - R);
    const y = (v) => H - B - (v / max) * (H - T - B);
    root.append(s('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }));
    root.append(s('line', { x1: L, x2: L, y1: T, y2: H - B, class: 'axis' }));
    root.append(s('text', { x: L - 4, y: T + 8, class: 'tick', 'text-anchor': 'end' }, fmtNum(max) + (unit || '')));
    root.append(s('text', { x: L - 4, y: H - B, class: 'tick', 'text-anchor': 'end' }, '0'));
    for (let k = 0; k <= 3; k++) {
      const t = t0 + (span * k) / 3;
      root.append(s('text', { x: x(t), y: H - 6, class: 'tick', 'text-anchor': k === 0 ? 'start' : (k === 3 ? 'end' : 'middle') }, fmtTime(t)));
    }
    series.forEach((se, i) => {
      const color = COLORS[i % COLORS.length];
      if (bars) {
        const bw = Math.max(2, ((W - L - R) * 60000) / span - 1);
        for (const [t, v, base] of se.points) {
          if (!v) continue;
          const r = s('rect', { x: x(t).toFixed(1), y: y(v + (base || 0)).toFixed(1), width: bw.toFixed(1), height: Math.max(0.5, y(base || 0) - y(v + (base || 0))).toFixed(1), fill: color, 'data-testid': 'chart-bar' });
          r.append(s('title', {}, `${se.name}: ${v} at ${fmtTime(t)}`));
          root.append(r);
        }
      } else if (se.points.length) {
        const d = se.points.map(([t, v], j) => (j ? 'L' : 'M') + x(t).toFixed(1) + ' ' + y(v).toFixed(1)).join(' ');
        root.append(s('path', { d, fill: 'none', stroke: color, 'stroke-width': 1.5, 'data-testid': 'chart-line' }));
        if (se.points.length === 1) {
          const [t, v] = se.points[0];
          root.append(s('circle', { cx: x(t), cy: y(v), r: 2.5, fill: color }));
        }
      }
      root.append(s('text', { x: W - R - 4, y: T + 10 + i * 11, class: 'legend', fill: color, 'text-anchor': 'end' }, se.name));
    });
    return root;
  }

  function fmtNum(v) { return v >= 100 ? v.toFixed(0) : (v >= 1 ? v.toFixed(1) : v.toFixed(2)); }

  async function refreshCharts() {
    let r;
    try { r = await h.api('/api/grid/timeseries'); } catch (e) { return; }
    if (!r.ok || !r.body) return;
    const samples = r.body.samples || [];
    const now = Date.now(), t0 = now - HOUR;
    const recent = samples.filter((s) => s.t >= t0);
    // Events per minute by type (stacked bars).
    const perMin = new Map();
    const types = new Set();
    for (const s of recent) {
      const m = Math.floor(s.t / 60000) * 60000;
      const row = perMin.get(m) || {};
      for (const [k, v] of Object.entries(s.events || {})) { row[k] = (row[k] || 0) + v; types.add(k); }
      perMin.set(m, row);
    }
    const base = new Map();
    const evSeries = [...types].sort().map((ty) => ({
      name: ty,
      points: [...perMin.entries()].map(([m, row]) => {
        const b = base.get(m) || 0;
        base.set(m, b + (row[ty] || 0));
        return [m, row[ty] || 0, b];
      }),
    }));
    const commit = recent.filter((s) => s.commit_ms != null).map((s) => [s.t, s.commit_ms]);
    const hb = recent.map((s) => [s.t, s.heartbeats_per_s || 0]);
    const states = ['healthy', 'degraded', 'offline'].map((st) => ({ name: 'agents ' + st, points: recent.map((s) => [s.t, (s.agents || {})[st] || 0]) }));
    h.byId('charts').replaceChildren(
      h.el('div', { class: 'chart' }, lineChart('chart-events', 'events per minute by type', evSeries, '', t0, now, true)),
      h.el('div', { class: 'chart' }, lineChart('chart-commit', 'commit latency (raft_commitTime, leader)', [{ name: 'mean ms', points: commit }], ' ms', t0, now)),
      h.el('div', { class: 'chart' }, lineChart('chart-heartbeats', 'heartbeats per second and agent states', [{ name: 'heartbeats/s', points: hb }, ...states], '', t0, now)));
  }

  // ---------- failover strip ----------

  async function refreshFailovers() {
    let r;
    try { r = await h.api('/api/grid/events?event_type=leader_elected&limit=200'); } catch (e) { return; }
    if (!r.ok || !r.body) return;
    const evs = (r.body.events || []).slice().sort((a, b) => a.seq - b.seq);
    const W = 1000, H = 46, L = 4, R = 4;
    const s = h.svg;
    const root = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'failover history', 'data-testid': 'failover-svg' });
    const now = Date.now();
    if (!evs.length) {
      h.byId('failover-strip').replaceChildren(h.el('p', { class: 'muted small' }, 'No leader elections recorded yet.'));
      return;
    }
    const start = Math.min(Date.parse(evs[0].timestamp) - Number((evs[0].details || {}).leaderless_ms || 0), now - 60000);
    const span = Math.max(now - start, 60000);
    const x = (t) => L + ((t - start) / span) * (W - L - R);
    evs.forEach((e, i) => {
      const t = Date.parse(e.timestamp);
      const end = i + 1 < evs.length ? Date.parse(evs[i + 1].timestamp) - Number((evs[i + 1].details || {}).leaderless_ms || 0) : now;
      const gap = Number((e.details || {}).leaderless_ms || 0);
      const d = e.details || {};
      if (gap > 0) {
        const g = s('rect', { x: x(t - gap), y: 6, width: Math.max(1, x(t) - x(t - gap)), height: 22, class: 'gap', 'data-testid': 'failover-gap' });
        g.append(s('title', {}, `no leader for ${gap} ms before term ${d.term}`));
        root.append(g);
      }
      const seg = s('rect', { x: x(t), y: 6, width: Math.max(1, x(Math.max(end, t)) - x(t)), height: 22, fill: COLORS[i % COLORS.length], 'data-testid': 'failover-term', 'data-term': d.term || '', 'data-leader': d.leader_id || e.entity_id });
      seg.append(s('title', {}, `term ${d.term}: ${d.leader_id || e.entity_id} from ${e.timestamp}` + (d.previous_leader_id ? ` (after ${d.previous_leader_id})` : '') + (gap ? ` after ${gap} ms without a leader` : '')));
      root.append(seg);
      if (x(Math.max(end, t)) - x(t) > 60) root.append(s('text', { x: x(t) + 3, y: 21, class: 'strip-label' }, `t${d.term} ${d.leader_id || e.entity_id}`));
    });
    root.append(s('text', { x: L, y: H - 4, class: 'tick' }, fmtTime(start)));
    root.append(s('text', { x: W - R, y: H - 4, class: 'tick', 'text-anchor': 'end' }, fmtTime(now)));
    h.byId('failover-strip').replaceChildren(root);
  }

  // ---------- entity page ----------

  function entityFromHash() {
    const m = /^#\/entity\/(.+)$/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : '';
  }

  async function showEntity() {
    const id = entityFromHash();
    const page = h.byId('entity-page');
    if (!id) { page.classList.add('hidden'); return; }
    page.classList.remove('hidden');
    h.byId('entity-title').textContent = id;
    const q = encodeURIComponent(id);
    const [evr, nr] = await Promise.all([
      h.api('/api/grid/events?entity_id=' + q + '&limit=200').catch(() => null),
      h.api('/api/grid/graph/' + q + '/neighbors?limit=40').catch(() => null),
    ]);
    const list = h.byId('entity-events');
    if (evr && evr.ok) {
      const evs = evr.body.events || [];
      list.replaceChildren(...(evs.length ? evs.map((e) => h.el('li', { 'data-testid': 'entity-event' },
        h.el('span', { class: 'muted mono' }, '#' + e.seq), h.el('span', null, e.event_type),
        h.el('span', { class: 'muted small' }, e.timestamp))) : [h.el('li', { class: 'empty' }, 'No events for this entity.')]));
    } else {
      list.replaceChildren(h.el('li', { class: 'empty' }, 'Could not load events: ' + (evr ? (evr.body && evr.body.error) || evr.status : 'unreachable')));
    }
    const nodes = [{ id, kind: 'entity' }], links = [];
    if (nr && nr.ok) {
      const first = (nr.body.neighbors || []).slice(0, 24);
      for (const n of first) { nodes.push({ id: n.id, kind: 'event', type: n.assoc_type }); links.push([id, n.id]); }
      const second = await Promise.all(first.slice(0, 12).map((n) => h.api('/api/grid/graph/' + encodeURIComponent(n.id) + '/neighbors?limit=4').catch(() => null)));
      second.forEach((r, i) => {
        if (!r || !r.ok) return;
        for (const n of r.body.neighbors || []) {
          if (!nodes.find((x) => x.id === n.id)) nodes.push({ id: n.id, kind: n.id.startsWith('ts-') ? 'time' : 'other' });
          links.push([first[i].id, n.id]);
        }
      });
    }
    drawGraph(nodes, links);
  }

  // drawGraph lays the entity in the centre, its events on a ring and their
  // own neighbours (time concepts) on an outer ring.
  function drawGraph(nodes, links) {
    const W = 640, H = 420, cx = W / 2, cy = H / 2;
    const s = h.svg;
    const root = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'event graph neighbourhood', 'data-testid': 'entity-graph' });
    const pos = new Map();
    const ring1 = nodes.filter((n) => n.kind === 'event'), ring2 = nodes.filter((n) => n.kind !== 'event' && n.kind !== 'entity');
    pos.set(nodes[0].id, [cx, cy]);
    ring1.forEach((n, i) => { const a = (2 * Math.PI * i) / Math.max(ring1.length, 1); pos.set(n.id, [cx + 120 * Math.cos(a), cy + 120 * Math.sin(a)]); });
    ring2.forEach((n, i) => { const a = (2 * Math.PI * i) / Math.max(ring2.length, 1) + 0.1; pos.set(n.id, [cx + 190 * Math.cos(a), cy + 185 * Math.sin(a)]); });
    for (const [a, b] of links) {
      const p = pos.get(a), q = pos.get(b);
      if (p && q) root.append(s('line', { x1: p[0], y1: p[1], x2: q[0], y2: q[1], class: 'graph-link' }));
    }
    for (const n of nodes) {
      const [x, y] = pos.get(n.id);
      const g = s('g', { 'data-testid': 'graph-node', 'data-kind': n.kind });
      g.append(s('circle', { cx: x, cy: y, r: n.kind === 'entity' ? 12 : 6, class: 'graph-' + n.kind }));
      g.append(s('title', {}, n.id));
      const label = n.kind === 'event' ? n.id.replace(/^event-/, '').replace(/-\d+(-\d+)?$/, '') : n.id;
      g.append(s('text', { x: x + 8, y: y - 8, class: 'graph-label' }, label.length > 28 ? label.slice(0, 27) + '…' : label));
      root.append(g);
    }
    h.byId('entity-graph-wrap').replaceChildren(root);
  }

  function init(helpers) {
    h = helpers;
    window.addEventListener('hashchange', showEntity);
    h.byId('entity-close').addEventListener('click', () => { location.hash = ''; });
    const tick = () => { refreshCharts(); refreshFailovers(); };
    tick();
    setInterval(tick, 10000);
    showEntity();
  }

  return { init, FetchEventSource, refresh: () => { refreshCharts(); refreshFailovers(); showEntity(); } };
})();
