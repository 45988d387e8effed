// Grid dashboard: plain JavaScript, no build step. It reads the REST API of
// whichever master answers, follows the replicated event history over SSE
// (each event triggers a debounced refetch of status, agents and nodes) and
// switches to another master when the one it talks to dies.
'use strict';

(function () {
  const MAX_EVENTS = 1000;
  const SHOWN_EVENTS = 200;
  const REFRESH_DEBOUNCE_MS = 250;
  const SAFETY_POLL_MS = 10000;
  const RECONNECT_MS = 1000;
  const TIMELINE_WINDOW_MS = 60 * 60 * 1000;

  const EVENT_TYPES = [
    'agent_registered', 'agent_heartbeat', 'agent_degraded', 'agent_offline', 'agent_recovered',
    'agent_unregistered', 'spawn_requested', 'spawn_succeeded', 'spawn_failed', 'stop_requested',
    'stop_succeeded', 'stop_failed', 'node_crashed', 'node_restarted', 'node_failed',
    'cluster_healthy', 'cluster_degraded', 'cluster_critical', 'leader_elected', 'master_joined',
    'master_removed', 'events_dropped', 'request_refused', 'replica_diverged',
    'node_unhealthy', 'node_lost', 'node_rescheduled', 'node_migrated', 'agent_drain_started',
    'agent_drain_complete', 'agent_drain_failed', 'agent_eligibility_changed', 'node_removed',
  ];
  const LANES = ['agent', 'spawn', 'stop', 'node', 'cluster', 'master'];
  const DEFAULT_EXAMPLES = ['spawn failures today', 'offline agents', 'events for cluster in the last hour', 'node crashes this week'];

  const state = {
    base: '',              // '' = the master that served the page
    masters: [],           // last known masters (id, http_addr, ...)
    status: null,
    agents: [],
    nodes: [],
    events: [],            // newest first
    seen: new Set(),
    lastSeq: 0,
    paused: false,
    pendingWhilePaused: 0,
    es: null,
    streamTimer: null,
    refreshTimer: null,
    refreshing: false,
    refreshAgain: false,
    failingOver: null,
    lostOrigin: false,
    unreachable: false,
    timelineTimer: null,
    historyLoaded: false,
  };

  // ---------- small DOM helpers ----------

  const byId = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') n.className = v;
        else if (k === 'text') n.textContent = v;
        else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
        else n.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  }

  const svgNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    const n = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function badge(value, extra) {
    const v = value || 'unknown';
    return el('span', { class: 'badge s-' + v.replace(/[^a-z_]/gi, ''), 'data-testid': extra }, v);
  }

  function ago(iso) {
    if (!iso) return 'never';
    const ms = Date.now() - Date.parse(iso);
    if (!isFinite(ms)) return iso;
    if (ms < 1500) return 'just now';
    if (ms < 60000) return Math.round(ms / 1000) + ' s ago';
    if (ms < 3600000) return Math.round(ms / 60000) + ' min ago';
    return Math.round(ms / 3600000) + ' h ago';
  }

  function clock(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return '';
    return d.toLocaleTimeString([], { hour12: false });
  }

  function category(type) {
    if (!type) return 'cluster';
    if (type.startsWith('agent_')) return 'agent';
    if (type.startsWith('spawn_')) return 'spawn';
    if (type.startsWith('stop_')) return 'stop';
    if (type.startsWith('node_')) return 'node';
    if (type.startsWith('leader_') || type.startsWith('master_')) return 'master';
    return 'cluster';
  }

  function isBad(type) {
    return /failed|crashed|offline|critical|degraded|dropped|refused|diverged/.test(type || '');
  }

  // ---------- API access with failover ----------

  class NetworkError extends Error {}

  function hostBase(httpAddr) {
    if (!httpAddr) return null;
    const i = httpAddr.lastIndexOf(':');
    if (i < 0) return null;
    let host = httpAddr.slice(0, i);
    const port = httpAddr.slice(i + 1);
    if (host === '' || host === '0.0.0.0' || host === '::' || host === '[::]') host = location.hostname;
    if (host.includes(':') && !host.startsWith('[')) host = '[' + host + ']';
    return location.protocol + '//' + host + ':' + port;
  }

  function currentLabel() {
    return state.base ? state.base.replace(/^https?:\/\//, '') : location.host;
  }

  async function rawFetch(base, path, opts) {
    const headers = { Accept: 'application/json' };
    const init = { method: opts.method || 'GET', headers, cache: 'no-store' };
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    const token = byId('api-token').value.trim();
    if (token) headers.Authorization = 'Bearer ' + token; // every read and write
    if (opts.requestId) headers['X-Request-Id'] = opts.requestId;
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), opts.timeout || 10000);
    init.signal = ctrl.signal;
    let resp;
    try {
      resp = await fetch(base + path, init);
    } catch (e) {
      throw new NetworkError((base || location.origin) + ' unreachable');
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    return { ok: resp.ok, status: resp.status, body };
  }

  // api calls path on the current master; if that master is unreachable (a
  // network error or this page's own timeout) it fails over to another one
  // and retries once. A POST (other than a read, opts.read) is retried only
  // with a request id (opts.requestId),
  // sent unchanged with the same body, so a first try whose reply was lost is
  // answered with its result instead of being carried out twice; such a POST
  // is retried on the same master when no other one answers.
  async function api(path, opts) {
    opts = opts || {};
    try {
      const r = await rawFetch(state.base, path, opts);
      if (state.unreachable) setUnreachable(false);
      return r;
    } catch (e) {
      if (!(e instanceof NetworkError)) throw e;
      const post = (opts.method || 'GET') === 'POST' && !opts.read;
      if (post && !opts.requestId) throw e;
      const switched = await failover();
      if (!switched && !post) throw e;
      return rawFetch(state.base, path, opts);
    }
  }

  // newId makes a random id: prefix, '-', 12 hex digits (the node id and
  // request id shapes the masters make themselves).
  function newId(prefix) {
    const b = new Uint8Array(6);
    crypto.getRandomValues(b);
    return prefix + '-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function candidateBases() {
    const out = [];
    const add = (b) => { if (b !== null && b !== state.base && !out.includes(b)) out.push(b); };
    for (const m of state.masters) {
      const b = hostBase(m.http_addr);
      if (b !== null) add(b === location.origin ? '' : b);
    }
    add('');
    return out;
  }

  // failover finds another master that answers /api/grid/status and makes it
  // the API base. Concurrent callers share one attempt.
  function failover() {
    if (state.failingOver) return state.failingOver;
    state.failingOver = (async () => {
      const lost = currentLabel();
      for (const b of candidateBases()) {
        try {
          const r = await rawFetch(b, '/api/grid/status', { timeout: 2500 });
          if (r.status >= 500 && r.status !== 503) continue;
          state.base = b;
          state.lostOrigin = b !== '';
          setUnreachable(false);
          showBanner('The master at ' + lost + ' is unreachable; now using the master at ' + currentLabel() + '.', true);
          byId('api-base').textContent = currentLabel();
          openStream();
          scheduleRefresh();
          return true;
        } catch (e) {
          // try the next master
        }
      }
      setUnreachable(true);
      showBanner('No master is reachable (last tried ' + lost + '); retrying…', false);
      return false;
    })();
    state.failingOver.finally(() => { state.failingOver = null; });
    return state.failingOver;
  }

  function setUnreachable(v) {
    state.unreachable = v;
    if (!v && !state.lostOrigin) hideBanner();
  }

  function showBanner(text, recovered) {
    const b = byId('conn-banner');
    b.textContent = text;
    b.classList.remove('hidden');
    b.classList.toggle('recovered', !!recovered);
  }

  function hideBanner() { byId('conn-banner').classList.add('hidden'); }

  // showInsecureBanner asks the master that served the page whether nothing
  // guards its API (no token, non-loopback address) and says so on top.
  function showInsecureBanner() {
    fetch('/api/grid/ui-config', { headers: { Accept: 'application/json' } })
      .then((r) => (r.ok ? r.json() : {}))
      .then((cfg) => {
        if (!cfg || !cfg.insecure) return;
        const b = byId('insecure-banner');
        b.textContent = 'Unprotected: this master serves its API on a non-loopback address without any token, ' +
          'so anyone who can reach it controls the cluster. Start the masters with --acl or --api-token.';
        b.classList.remove('hidden');
      })
      .catch(() => { /* the connection banner reports unreachable masters */ });
  }

  function errorText(r) {
    if (r.body && r.body.error) return r.body.error;
    return 'HTTP ' + r.status;
  }

  // ---------- refresh (status, agents, nodes) ----------

  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(refreshAll, REFRESH_DEBOUNCE_MS);
  }

  async function refreshAll() {
    if (state.refreshing) { state.refreshAgain = true; return; }
    state.refreshing = true;
    try {
      const [st, ag, nd] = await Promise.all([
        api('/api/grid/status'), api('/api/grid/agents'), api('/api/grid/nodes'),
      ]);
      if (st.ok) {
        state.status = st.body;
        state.masters = st.body.masters || state.masters;
        renderOverview();
      } else {
        renderStatusError(errorText(st));
      }
      if (ag.ok) state.agents = ag.body.agents || [];
      if (nd.ok) state.nodes = nd.body.nodes || [];
      renderAgents();
      renderNodes();
      renderTopology();
      byId('updated-at').textContent = 'updated ' + new Date().toLocaleTimeString([], { hour12: false });
    } catch (e) {
      renderStatusError(e.message);
    } finally {
      state.refreshing = false;
      if (state.refreshAgain) { state.refreshAgain = false; scheduleRefresh(); }
    }
  }

  function renderStatusError(msg) {
    byId('cluster-reason').textContent = 'Status unavailable: ' + msg;
    const b = byId('cluster-status');
    b.textContent = 'unknown';
    b.className = 'badge s-unknown';
  }

  function renderOverview() {
    const s = state.status;
    if (!s) return;
    const b = byId('cluster-status');
    b.textContent = s.status || 'unknown';
    b.className = 'badge s-' + (s.status || 'unknown');
    byId('leader-id').textContent = s.leader ? s.leader.id : 'no leader';
    byId('api-base').textContent = currentLabel();
    byId('cluster-reason').textContent = s.reason || '';
    byId('failure-tolerance').textContent = String(s.failure_tolerance);
    byId('agents-count').textContent = s.healthy_agents + ' / ' + s.total_agents;
    byId('nodes-count').textContent = s.running_storage_nodes + ' / ' + s.total_storage_nodes;
    byId('last-seq').textContent = String(Math.max(s.last_event_seq || 0, state.lastSeq));
    const tbody = byId('masters-table').tBodies[0];
    const rows = (s.masters || []).map((m) => {
      const isLeader = s.leader && m.id === s.leader.id;
      return el('tr', { 'data-testid': 'master-row', 'data-master-id': m.id, 'data-state': m.state, class: isLeader ? 'leader' : '' },
        el('td', null, m.id, isLeader ? ' ★' : ''),
        el('td', null, badge(m.state, 'master-state')),
        el('td', null, m.suffrage),
        el('td', null, badge(m.healthy ? 'healthy' : 'unhealthy')),
        el('td', null, m.last_contact_ms < 0 ? '—' : (m.last_contact_ms + ' ms')),
        el('td', null, el('code', null, m.http_addr)),
        el('td', null, el('code', null, m.grpc_addr)));
    });
    tbody.replaceChildren(...rows);
  }

  function nodeRow(n, withAgent, withStop) {
    const cells = [
      el('td', null, el('code', null, n.node_id)),
    ];
    if (withAgent) cells.push(el('td', null, n.agent_id));
    cells.push(
      el('td', null, badge(n.status, 'node-state')),
      el('td', null, n.desired_state || ''),
      el('td', null, n.pid || '—'),
      el('td', null, n.port || '—'),
      el('td', null, String(n.restart_count || 0)),
      el('td', null, n.last_signal ? n.last_exit_code + ' (' + n.last_signal + ')' : String(n.last_exit_code || 0)),
      el('td', null, el('code', null, n.endpoint || '')));
    if (withStop) {
      const canStop = !['stopped', 'stopping'].includes(n.status) || n.desired_state === 'running';
      cells.push(el('td', null, canStop ? el('button', {
        type: 'button', class: 'danger', 'data-testid': 'node-stop',
        onclick: () => stopNode(n.node_id, n.agent_id),
      }, 'stop') : ''));
    }
    return el('tr', { 'data-testid': 'node-row', 'data-node-id': n.node_id, 'data-status': n.status }, ...cells);
  }

  function renderNodes() {
    const tbody = byId('nodes-table').tBodies[0];
    if (state.nodes.length === 0) {
      tbody.replaceChildren(el('tr', null, el('td', { colspan: 10, class: 'empty' }, 'No storage nodes yet. Spawn one below.')));
    } else {
      const sorted = [...state.nodes].sort((a, b) => a.node_id.localeCompare(b.node_id));
      tbody.replaceChildren(...sorted.map((n) => nodeRow(n, true, true)));
    }
    byId('node-ids').replaceChildren(...state.nodes.map((n) => el('option', { value: n.node_id })));
  }

  function renderAgents() {
    const list = byId('agents-list');
    const open = new Set([...list.querySelectorAll('details[open]')].map((d) => d.dataset.agentId));
    if (state.agents.length === 0) {
      list.replaceChildren(el('p', { class: 'empty' }, 'No agents registered.'));
    } else {
      list.replaceChildren(...state.agents.map((a) => {
        const nodes = a.storage_nodes || [];
        const body = nodes.length === 0 ? el('p', { class: 'empty' }, 'No storage nodes on this agent.')
          : el('div', { class: 'table-wrap' }, el('table', null,
            el('thead', null, el('tr', null, ...['node', 'state', 'desired', 'pid', 'port', 'restarts', 'last exit', 'endpoint'].map((h) => el('th', null, h)))),
            el('tbody', null, ...nodes.map((n) => nodeRow(n, false, false)))));
        return el('details', { 'data-testid': 'agent-row', 'data-agent-id': a.agent_id, open: open.has(a.agent_id) },
          el('summary', null,
            el('strong', null, a.agent_id), badge(a.status, 'agent-status'),
            el('span', { class: 'muted' }, (a.hostname || '') + ' ' + (a.platform || '')),
            el('span', null, a.current_storage_nodes + ' / ' + a.max_storage_nodes + ' nodes'),
            el('span', { class: 'muted small' }, 'heartbeat ' + ago(a.last_heartbeat))),
          el('div', { class: 'agent-body' }, body));
      }));
    }
    byId('agent-ids').replaceChildren(...state.agents.map((a) => el('option', { value: a.agent_id })));
  }

  function renderTopology() {
    const s = state.status;
    const masters = (s && s.masters) || [];
    const leaderId = s && s.leader ? s.leader.id : '';
    const masterRow = el('div', { class: 'topo-row' }, ...masters.map((m) =>
      el('div', { class: 'topo-box' + (m.id === leaderId ? ' leader' : '') + (m.healthy ? '' : ' down'), 'data-testid': 'topo-master', 'data-master-id': m.id },
        el('div', { class: 'name' }, m.id), badge(m.state))));
    const agentRow = el('div', { class: 'topo-row' }, ...state.agents.map((a) =>
      el('div', { class: 'topo-box' + (a.status === 'offline' ? ' down' : ''), 'data-testid': 'topo-agent', 'data-agent-id': a.agent_id },
        el('div', { class: 'name' }, a.agent_id), badge(a.status),
        el('div', { class: 'topo-nodes' }, ...(a.storage_nodes || []).map((n) =>
          el('span', { class: 'topo-node badge s-' + n.status, title: n.node_id + ' ' + n.status, 'data-testid': 'topo-node' }, n.node_id))))));
    byId('topology').replaceChildren(
      el('div', { class: 'topo-label' }, 'masters (raft)'), masterRow,
      el('div', { class: 'topo-arrow' }, '↓ leader commands'),
      el('div', { class: 'topo-label' }, 'agents → storage nodes'),
      state.agents.length ? agentRow : el('p', { class: 'empty' }, 'No agents registered.'));
  }

  // ---------- events: history, live stream, timeline ----------

  async function loadRecentEvents() {
    const r = await api('/api/grid/events?stale=true&limit=' + SHOWN_EVENTS);
    if (!r.ok) throw new Error(errorText(r));
    const evs = r.body.events || [];
    state.events = [];
    state.seen.clear();
    for (const e of evs) addEvent(e, false);
    state.events.sort((a, b) => b.seq - a.seq);
    state.lastSeq = Math.max(state.lastSeq, r.body.last_seq || 0, ...evs.map((e) => e.seq));
    state.historyLoaded = true;
    renderEvents();
    renderTimeline();
  }

  function addEvent(e, live) {
    if (state.seen.has(e.id)) return false;
    state.seen.add(e.id);
    e._live = live;
    state.events.unshift(e);
    if (state.events.length > MAX_EVENTS) {
      const dropped = state.events.pop();
      state.seen.delete(dropped.id);
    }
    return true;
  }

  function closeStream() {
    if (state.es) { state.es.close(); state.es = null; }
    clearTimeout(state.streamTimer);
  }

  function setStreamState(s) {
    const b = byId('stream-state');
    b.textContent = s;
    b.className = 'badge s-' + s;
  }

  function openStream() {
    closeStream();
    if (!state.historyLoaded) {
      loadRecentEvents().then(openStream, () => reconnectStream());
      return;
    }
    // fetch-based streaming: the token goes in a header, never in the URL.
    const es = new window.GridObserve.FetchEventSource(state.base + '/api/grid/events/stream?after=' + state.lastSeq,
      byId('api-token').value.trim());
    state.es = es;
    es.addEventListener('open', () => {
      if (es === state.es) setStreamState(state.paused ? 'paused' : 'live');
    });
    es.addEventListener('grid_event', (m) => {
      if (es !== state.es) return;
      let e;
      try { e = JSON.parse(m.data); } catch (err) { return; }
      if (e.seq <= state.lastSeq) return;
      state.lastSeq = e.seq;
      if (!addEvent(e, true)) return;
      if (state.paused) {
        state.pendingWhilePaused++;
        byId('stream-pending').textContent = state.pendingWhilePaused + ' new while paused';
      } else {
        renderEvents();
      }
      scheduleTimeline();
      scheduleRefresh();
    });
    es.addEventListener('gap', () => {
      if (es !== state.es) return;
      closeStream();
      showBanner('Some events are no longer retained; reloaded the recent history.', true);
      state.lastSeq = 0;
      state.historyLoaded = false;
      loadRecentEvents().then(openStream, () => reconnectStream());
    });
    es.addEventListener('stream_error', () => {
      if (es === state.es) reconnectStream();
    });
    es.onerror = () => {
      if (es === state.es) reconnectStream();
    };
  }

  // reconnectStream reopens the stream after a short pause, failing over to
  // another master if the current one no longer answers.
  function reconnectStream() {
    closeStream();
    setStreamState('reconnecting');
    state.streamTimer = setTimeout(async () => {
      try {
        const r = await rawFetch(state.base, '/healthz', { timeout: 2000 });
        if (!r.ok) throw new NetworkError('unhealthy');
        openStream();
        scheduleRefresh();
      } catch (e) {
        const switched = await failover().catch(() => false);
        if (!switched) reconnectStream();
      }
    }, RECONNECT_MS);
  }

  function eventMatchesFilter(e) {
    const t = byId('filter-type').value;
    const ent = byId('filter-entity').value.trim().toLowerCase();
    if (t && e.event_type !== t) return false;
    if (ent && !(e.entity_id || '').toLowerCase().includes(ent)) return false;
    return true;
  }

  function detailsText(d) {
    return Object.entries(d || {}).map(([k, v]) => k + '=' + v).join(' ');
  }

  function eventItem(e) {
    const cat = category(e.event_type);
    return el('li', {
      'data-testid': 'event-item', 'data-seq': e.seq, 'data-event-type': e.event_type,
      class: e._live ? 'fresh' : '', title: e.timestamp,
    },
    el('span', { class: 'muted mono' }, '#' + e.seq),
    el('span', { class: 'cat-' + (isBad(e.event_type) ? 'bad' : cat) }, e.event_type),
    el('span', null, el('a', { href: '#/entity/' + encodeURIComponent(e.entity_id), 'data-testid': 'entity-link' }, e.entity_id),
      ' ', el('span', { class: 'muted small' }, clock(e.timestamp))),
    el('span', { class: 'details' }, detailsText(e.details)));
  }

  function renderEvents() {
    const shown = state.events.filter(eventMatchesFilter).slice(0, SHOWN_EVENTS);
    const list = byId('event-stream');
    if (shown.length === 0) {
      list.replaceChildren(el('li', { class: 'empty' }, state.events.length ? 'No events match the filters.' : 'No events yet.'));
    } else {
      list.replaceChildren(...shown.map(eventItem));
    }
    for (const e of shown) e._live = false;
  }

  function scheduleTimeline() {
    if (state.timelineTimer) return;
    state.timelineTimer = setTimeout(() => { state.timelineTimer = null; renderTimeline(); }, 500);
  }

  function renderTimeline() {
    const W = 1000, laneH = 22, top = 8, left = 70, right = 10;
    const H = top + LANES.length * laneH + 24;
    const now = Date.now();
    const evs = state.events.filter(eventMatchesFilter);
    const times = evs.map((e) => Date.parse(e.timestamp)).filter(isFinite);
    let start = now - TIMELINE_WINDOW_MS;
    if (times.length && Math.min(...times) > start) start = Math.min(...times) - 5000;
    const span = Math.max(now - start, 10000);
    const x = (t) => left + ((t - start) / span) * (W - left - right);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'event timeline' });
    LANES.forEach((lane, i) => {
      const y = top + i * laneH + laneH / 2;
      root.append(svg('text', { x: 4, y: y + 4, class: 'lane-label' }, lane));
      root.append(svg('line', { x1: left, x2: W - right, y1: y, y2: y, class: 'axis' }));
    });
    for (let k = 0; k <= 4; k++) {
      const t = start + (span * k) / 4;
      root.append(svg('text', { x: x(t), y: H - 6, class: 'tick', 'text-anchor': k === 0 ? 'start' : (k === 4 ? 'end' : 'middle') },
        new Date(t).toLocaleTimeString([], { hour12: false, hour: '2-digit', minute: '2-digit', second: '2-digit' })));
    }
    const colors = { agent: '#58a6ff', spawn: '#3fb950', stop: '#79c0ff', node: '#d29922', cluster: '#a371f7', master: '#ff7b72' };
    for (const e of evs) {
      const t = Date.parse(e.timestamp);
      if (!isFinite(t) || t < start) continue;
      const cat = category(e.event_type);
      const y = top + LANES.indexOf(cat) * laneH + laneH / 2;
      const c = svg('circle', { cx: x(t).toFixed(1), cy: y, r: 4, fill: isBad(e.event_type) ? '#f85149' : colors[cat], 'data-testid': 'timeline-dot' });
      c.append(svg('title', {}, `#${e.seq} ${e.event_type} ${e.entity_id} ${e.timestamp}`));
      root.append(c);
    }
    byId('timeline').replaceChildren(root);
    byId('timeline-range').textContent = 'since ' + new Date(start).toLocaleTimeString([], { hour12: false });
  }

  // ---------- forms ----------

  function numberOrRaw(v) {
    const t = v.trim();
    if (t === '') return undefined;
    return /^\d+$/.test(t) ? Number(t) : t; // the server names a wrong type
  }

  function setResult(id, ok, text) {
    const p = byId(id);
    p.textContent = text;
    p.className = 'result ' + (ok ? 'ok' : 'err');
  }

  // submitForm POSTs body once per click: the request id is made here,
  // before the first try, and every retry of this click reuses it.
  async function submitForm(form, resultId, path, body, okText, timeout) {
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    setResult(resultId, true, 'working…');
    try {
      const r = await api(path, { method: 'POST', body, timeout, requestId: newId('req') });
      if (r.ok && r.body && r.body.success !== false) {
        setResult(resultId, true, okText(r.body));
        scheduleRefresh();
        return r.body;
      }
      setResult(resultId, false, 'Refused (' + r.status + '): ' + errorText(r));
    } catch (e) {
      setResult(resultId, false, 'Failed: ' + e.message);
    } finally {
      btn.disabled = false;
    }
    return null;
  }

  function onSpawn(ev) {
    ev.preventDefault();
    const f = ev.target;
    // The page names the node before the first POST, so a retry after a
    // lost reply is the same node, never a second one.
    const body = { node_id: newId('node') };
    const agent = f.agent_id.value.trim();
    if (agent) body.agent_id = agent;
    const path = f.storage_path.value.trim();
    if (path) body.storage_path = path;
    const port = numberOrRaw(f.port.value);
    if (port !== undefined) body.port = port;
    const mem = numberOrRaw(f.memory_limit_mb.value);
    if (mem !== undefined) body.memory_limit_mb = mem;
    submitForm(f, 'spawn-result', '/api/grid/spawn', body,
      (b) => 'Spawned ' + b.node_id + (b.agent_id ? ' on ' + b.agent_id : '') + (b.endpoint ? ' at ' + b.endpoint : ''), 60000);
  }

  function stopNode(nodeId, agentId) {
    const f = byId('stop-form');
    f.node_id.value = nodeId;
    f.agent_id.value = agentId || '';
    f.requestSubmit();
  }

  function onStop(ev) {
    ev.preventDefault();
    const f = ev.target;
    const body = { node_id: f.node_id.value.trim() };
    const agent = f.agent_id.value.trim();
    if (agent) body.agent_id = agent;
    submitForm(f, 'stop-result', '/api/grid/stop', body, () => 'Stopped ' + body.node_id, 30000);
  }

  async function onQuery(ev) {
    ev.preventDefault();
    const q = byId('query-input').value;
    const btn = ev.target.querySelector('button');
    btn.disabled = true;
    byId('query-error').textContent = '';
    try {
      // The caller's zone, so "today" is the viewer's day, not the master's.
      const zone = { time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || '', utc_offset_s: -60 * new Date().getTimezoneOffset() };
      const r = await api('/api/grid/query', { method: 'POST', body: Object.assign({ query: q }, zone), read: true });
      if (!r.ok) {
        byId('query-output').classList.add('hidden');
        setResult('query-error', false, 'Refused (' + r.status + '): ' + errorText(r));
        return;
      }
      renderQuery(r.body);
    } catch (e) {
      setResult('query-error', false, 'Failed: ' + e.message);
    } finally {
      btn.disabled = false;
    }
  }

  function renderQuery(b) {
    byId('query-output').classList.remove('hidden');
    byId('query-explanation').textContent = b.explanation || '';
    const it = b.interpretation || {};
    const dl = byId('query-interpretation');
    const row = (k, v) => [el('dt', null, k), el('dd', { 'data-testid': 'interp-' + k.replace(/ /g, '-') }, v)];
    dl.replaceChildren(
      ...row('intent', it.intent || '—'),
      ...row('event types', (it.event_types || []).join(', ') || 'any'),
      ...row('entities', (it.entities || []).join(', ') || 'any'),
      ...row('since', it.since || 'unbounded'),
      ...row('until', it.until || 'now'),
      ...((it.not_understood || []).length ? row('not understood', it.not_understood.join(' ')) : []),
      ...(it.state_target ? row('state', it.state_target + ' ' + (it.state_status || '')) : []));
    byId('query-count').textContent = String(b.count);
    const table = byId('query-results');
    let head = [], rows = [];
    if ((b.results || []).length) {
      head = ['seq', 'time', 'type', 'entity', 'details'];
      rows = b.results.map((e) => el('tr', { 'data-testid': 'query-row' }, el('td', null, e.seq), el('td', null, e.timestamp),
        el('td', null, e.event_type), el('td', null, e.entity_id), el('td', null, detailsText(e.details))));
    } else if ((b.agents || []).length) {
      head = ['agent', 'status', 'nodes', 'last heartbeat'];
      rows = b.agents.map((a) => el('tr', { 'data-testid': 'query-row' }, el('td', null, a.agent_id), el('td', null, badge(a.status)),
        el('td', null, a.current_storage_nodes + ' / ' + a.max_storage_nodes), el('td', null, ago(a.last_heartbeat))));
    } else if ((b.nodes || []).length) {
      head = ['node', 'agent', 'status', 'restarts', 'last exit'];
      rows = b.nodes.map((n) => el('tr', { 'data-testid': 'query-row' }, el('td', null, n.node_id), el('td', null, n.agent_id),
        el('td', null, badge(n.status)), el('td', null, n.restart_count), el('td', null, n.last_exit_code)));
    } else {
      rows = [el('tr', null, el('td', { class: 'empty' }, 'Nothing matched.'))];
    }
    table.tHead.replaceChildren(el('tr', null, ...head.map((h) => el('th', null, h))));
    table.tBodies[0].replaceChildren(...rows);
    if ((b.examples || []).length) renderExamples(b.examples);
    if (window.GridAlerts) window.GridAlerts.renderAnswer(b);
  }

  function renderExamples(list) {
    byId('query-examples').replaceChildren(...list.map((q) => el('button', {
      type: 'button', 'data-testid': 'query-example',
      onclick: () => { byId('query-input').value = q; byId('query-form').requestSubmit(); },
    }, q)));
  }

  // ---------- wiring ----------

  function init() {
    const sel = byId('filter-type');
    for (const t of EVENT_TYPES) sel.append(el('option', { value: t }, t));
    sel.addEventListener('change', () => { renderEvents(); renderTimeline(); });
    byId('filter-entity').addEventListener('input', () => { renderEvents(); renderTimeline(); });
    byId('stream-pause').addEventListener('click', () => {
      state.paused = !state.paused;
      byId('stream-pause').textContent = state.paused ? 'Resume' : 'Pause';
      if (!state.paused) {
        state.pendingWhilePaused = 0;
        byId('stream-pending').textContent = '';
        renderEvents();
      }
      setStreamState(state.paused ? 'paused' : (state.es ? 'live' : 'reconnecting'));
    });
    const tok = byId('api-token');
    try { tok.value = sessionStorage.getItem('grid_api_token') || ''; } catch (e) { /* storage disabled */ }
    tok.addEventListener('change', () => {
      try { sessionStorage.setItem('grid_api_token', tok.value.trim()); } catch (e) { /* storage disabled */ }
      // A new token: read everything again with it and reopen the stream.
      state.historyLoaded = false;
      refreshAll().then(openStream);
      window.GridObserve.refresh();
    });
    byId('spawn-form').addEventListener('submit', onSpawn);
    byId('stop-form').addEventListener('submit', onStop);
    byId('query-form').addEventListener('submit', onQuery);
    renderExamples(DEFAULT_EXAMPLES);
    byId('api-base').textContent = currentLabel();

    showInsecureBanner();
    window.GridObserve.init({ api, el, svg, byId });
    if (window.GridAlerts) window.GridAlerts.init({ api, el, svg, byId });
    refreshAll().then(openStream);
    setInterval(refreshAll, SAFETY_POLL_MS);
    setInterval(() => { if (!state.paused) renderTimeline(); }, 15000);
  }

  init();
})();
