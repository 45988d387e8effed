// Grid dashboard, alerts part: the alerts panel (GET /api/grid/alerts?all=true,
// polled) and the richer query answers of issue 18: aggregate rows as bars,
// a "why" answer as a causal chain, unknown entities with suggestions and
// the anchor event of a relative time. Plain JavaScript and SVG, no build
// step; app.js calls init and renderAnswer.
'use strict';

window.GridAlerts = (function () {
  let h = null; // helpers from app.js: api, el, svg, byId
  const POLL_MS = 5000;

  function init(helpers) {
    h = helpers;
    refresh();
    setInterval(refresh, POLL_MS);
  }

  async function refresh() {
    const box = h.byId('alerts-list');
    if (!box) return;
    let r;
    try {
      r = await h.api('/api/grid/alerts?all=true', {});
    } catch (e) {
      return; // app.js shows the master as unreachable
    }
    if (!r.ok) {
      box.replaceChildren(h.el('li', { class: 'muted' }, 'alerts unavailable (' + r.status + ')'));
      return;
    }
    const alerts = (r.body && r.body.alerts) || [];
    const firing = alerts.filter((a) => a.state === 'firing').length;
    h.byId('alerts-firing').textContent = firing ? firing + ' firing' : 'none firing';
    h.byId('alerts-firing').className = 'badge ' + (firing ? 'critical' : 'healthy');
    if (!alerts.length) {
      box.replaceChildren(h.el('li', { class: 'muted' }, 'No alert has fired.'));
      return;
    }
    box.replaceChildren(...alerts.slice(0, 50).map((a) => h.el('li', { 'data-testid': 'alert-row', class: 'alert-' + a.state },
      h.el('span', { class: 'badge ' + (a.state === 'firing' ? 'critical' : 'healthy') }, a.state), ' ',
      h.el('strong', null, a.rule), ' ', h.el('code', null, a.key), ' ',
      h.el('span', { class: 'muted small' }, (a.fired_at || '') + (a.resolved_at ? ' → ' + a.resolved_at : '')), ' ',
      h.el('span', null, a.summary || ''))));
  }

  // renderAnswer adds what the table of app.js does not show.
  function renderAnswer(b) {
    const box = h.byId('query-extra');
    if (!box) return;
    const it = b.interpretation || {};
    const parts = [];
    for (const u of it.unknown_entities || []) {
      parts.push(h.el('p', { class: 'unknown', 'data-testid': 'query-unknown' }, 'No ', h.el('code', null, u.entity),
        ' in the history' + (u.suggestions.length ? '; did you mean ' + u.suggestions.join(' or ') + '?' : '.')));
    }
    if (it.anchor) {
      const ev = (it.anchor.events || [])[0];
      parts.push(h.el('p', { class: 'muted', 'data-testid': 'query-anchor' }, 'Relative to: ' + it.anchor.relation + ' ' +
        it.anchor.event_types.join('/') + (it.anchor.entity ? ' of ' + it.anchor.entity : '') +
        (ev ? ' (seq ' + ev.seq + ' at ' + ev.timestamp + ')' : ' (none found)')));
    }
    if (it.group_by) {
      const extra = [it.order, it.limit ? 'limit ' + it.limit : '', it.having ? it.having.op + ' ' + it.having.count : ''].filter(Boolean);
      parts.push(h.el('p', { class: 'muted' }, 'Grouped by ' + it.group_by + (extra.length ? ' (' + extra.join(', ') + ')' : '')));
      if ((b.groups || []).length) parts.push(bars(b.groups));
    }
    if ((b.chain || []).length) {
      parts.push(h.el('ol', { class: 'chain', 'data-testid': 'query-chain' }, ...b.chain.map((st) => h.el('li', null,
        h.el('span', { class: 'muted small' }, st.event.timestamp), ' ', h.el('strong', null, st.event.event_type), ' ',
        h.el('code', null, st.event.entity_id), ' ', h.el('span', { class: 'muted' }, '— ' + st.link)))));
    }
    box.replaceChildren(...parts);
  }

  // bars draws one horizontal bar per group, longest = full width.
  function bars(groups) {
    const rowH = 18, width = 520, labelW = 170;
    const top = Math.max(...groups.map((g) => g.count), 1);
    const s = h.svg('svg', { viewBox: '0 0 ' + width + ' ' + (groups.length * rowH + 4), class: 'bars', 'data-testid': 'query-bars' });
    groups.slice(0, 50).forEach((g, i) => {
      const y = i * rowH + 2;
      const w = Math.max(1, (width - labelW - 50) * g.count / top);
      s.appendChild(h.svg('text', { x: labelW - 6, y: y + 12, 'text-anchor': 'end', class: 'tick' }, g.key));
      s.appendChild(h.svg('rect', { x: labelW, y: y + 2, width: w, height: rowH - 6, class: 'bar' }));
      s.appendChild(h.svg('text', { x: labelW + w + 4, y: y + 12, class: 'tick' }, String(g.count)));
    });
    return s;
  }

  return { init, refresh, renderAnswer };
})();
