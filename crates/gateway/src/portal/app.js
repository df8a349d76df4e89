// The public results portal: a single page over the gateway's JSON API
// (/v1/...) and its live stream (/v1/stream). No framework and no build step:
// the gateway serves this file as it is.
//
// Everything shown from the log was written by publishers, so it is only ever
// inserted as text (textContent), never as markup. Lists are fetched a level
// at a time (`within`, `level`, `offset`, `limit`), never a whole election.
'use strict';

(() => {
  const main = document.getElementById('main');

  // What every view shares: the election definition with the sources that
  // have published, the newest checkpoint seen and the log size.
  const S = {
    election: null,
    size: 0,
    checkpoint: null,
    source: 'official',
  };

  const PALETTE = ['#1f5fa8', '#c8372d', '#2e8b57', '#e08a00', '#7b4fa3', '#8c564b',
    '#d6619b', '#138d90', '#9a9a1a', '#5f6b7a', '#6fa8dc', '#f4a261', '#264653', '#a8c545',
    '#e9c46a', '#9d4edd', '#ff7f7f', '#00a6a6', '#b5838d', '#3a0ca3'];
  const LEVELS = { national: 'Whole election', province: 'Province', district: 'District', commune: 'Commune', station: 'Station' };
  const PLURAL = { province: 'Provinces', district: 'Districts', commune: 'Communes', station: 'Stations' };
  const KINDS = {
    election: 'Election defined', geography: 'Geography published', key_register: 'Key registered',
    key_revoke: 'Key revoked', key_rotate: 'Key rotated', result: 'Result form', correction: 'Correction',
    recount: 'Recount', complaint_filed: 'Complaint filed', complaint_acknowledged: 'Complaint acknowledged',
    complaint_review: 'Complaint under review', complaint_resolved: 'Complaint resolved',
    complaint_appealed: 'Appeal filed', complaint_appeal_decided: 'Appeal decided',
    certified: 'Tally certified', attestation: 'Attestation',
  };
  const STATUS = { filed: 'Filed', acknowledged: 'Acknowledged', under_review: 'Under review', resolved: 'Resolved', appealed: 'Appealed', final: 'Final' };
  const OPEN = new Set(['filed', 'acknowledged', 'under_review', 'appealed']);
  const FIELDS = [['registered', 'Registered voters'], ['cast', 'Ballots cast'], ['valid', 'Valid ballots'], ['invalid', 'Invalid ballots']];

  // ---- small helpers -------------------------------------------------------

  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    setProps(el, props);
    append(el, kids);
    return el;
  }
  function svg(tag, attrs, ...kids) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, String(v));
    append(el, kids);
    return el;
  }
  function setProps(el, props) {
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      // CSSOM, not a style attribute: the Content-Security-Policy allows it.
      else if (k === 'style') for (const [p, x] of Object.entries(v)) el.style.setProperty(p, x);
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function append(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k == null || k === false) continue;
      el.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
  }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  async function api(path) {
    const r = await fetch(path, { headers: { accept: 'application/json' } });
    let body = null;
    try { body = await r.json(); } catch { /* not JSON */ }
    if (!r.ok) {
      const e = body && body.error;
      throw new ApiError(r.status, e ? e.code : `http_${r.status}`, e ? e.message : r.statusText);
    }
    return body;
  }
  function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v != null && v !== '') u.set(k, v);
    const s = u.toString();
    return s ? `?${s}` : '';
  }
  const fmt = (n) => (n == null ? '—' : Number(n).toLocaleString('en-US'));
  const pct = (a, b) => (b ? `${((100 * a) / b).toFixed(1)}%` : '—');
  const time = (t) => (t ? t.replace('T', ' ').replace('Z', ' UTC') : '—');
  const short = (hex) => (hex ? `${hex.slice(0, 12)}…` : '—');
  const code = (text, full) => h('code', { class: 'hash', title: full || text }, text);

  function partyName(id) {
    const p = S.election && S.election.parties.find((x) => x.id === id);
    return p ? p.name : id;
  }
  function partyColor(id) {
    const i = S.election ? S.election.parties.findIndex((x) => x.id === id) : -1;
    return i < 0 ? '#888' : PALETTE[i % PALETTE.length];
  }
  function chip(id) {
    return h('span', { class: 'chip', style: { background: partyColor(id) } });
  }
  function sourceKey(s) { return !s ? '' : s.role === 'authority' ? 'official' : `${s.role}:${s.org}`; }
  function sourceLabel(s) {
    if (!s) return 'an unregistered key';
    const role = { authority: 'official', observer: 'observer', party_agent: 'party agent' }[s.role] || s.role;
    return `${s.org} (${role})`;
  }
  function sources() {
    const order = { authority: 0, observer: 1, party_agent: 2 };
    return (S.election ? S.election.sources : []).map((x) => x.source)
      .sort((a, b) => (order[a.role] ?? 9) - (order[b.role] ?? 9));
  }
  function sourceByKey(key) { return sources().find((s) => sourceKey(s) === key); }
  function contest(params) {
    const cs = S.election ? S.election.contests : [];
    const want = params.get('contest');
    return cs.find((c) => c.id === want) || cs[0] || null;
  }

  // ---- routes: #/, #/region/CODE, #/station/CODE, #/compare, ... ------------

  function route() {
    const raw = location.hash.replace(/^#\/?/, '');
    const at = raw.indexOf('?');
    const path = at < 0 ? raw : raw.slice(0, at);
    const params = new URLSearchParams(at < 0 ? '' : raw.slice(at + 1));
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    return { view: parts[0] || 'results', code: parts.slice(1).join('/') || null, params };
  }
  function href(view, codeStr, params) {
    const p = qs(params || {});
    return `#/${view}${codeStr ? `/${codeStr}` : ''}${p}`;
  }
  function regionHref(c) {
    const src = S.source === 'official' ? null : S.source;
    if (!c) return href('', null, { source: src });
    return href(c.split('/').length === 4 ? 'station' : 'region', c, { source: src });
  }

  // ---- rendering -------------------------------------------------------------

  let renderSeq = 0;
  let lastRender = 0;
  async function render(opts = {}) {
    const seq = ++renderSeq;
    const r = route();
    for (const a of document.querySelectorAll('#tabs a')) {
      const tab = ['region', 'station', 'results'].includes(r.view) ? 'results' : r.view;
      a.classList.toggle('active', a.dataset.tab === tab);
    }
    if (!opts.live) main.classList.add('loading');
    try {
      await basics();
      const view = VIEWS[r.view] || notFound;
      const node = S.election ? await view(r) : waiting();
      if (seq !== renderSeq) return;
      const y = window.scrollY;
      main.replaceChildren(node);
      main.dataset.view = r.view;
      main.dataset.size = String(S.size);
      if (opts.live) window.scrollTo(0, y);
    } catch (e) {
      if (seq !== renderSeq) return;
      main.replaceChildren(problem(e));
    } finally {
      if (seq === renderSeq) main.classList.remove('loading');
      lastRender = Date.now();
    }
  }

  // The definition and the sources so far, for every render: it is small
  // and cheap (unlike /v1/status, which hashes the whole projection).
  async function basics() {
    try {
      const e = await api('/v1/election');
      S.election = e.answer;
      S.size = Math.max(S.size, e.size);
      document.getElementById('title').textContent = e.answer.name;
      document.title = `${e.answer.name} · results`;
      showLive();
    } catch (e) {
      if (e.code !== 'no_election') throw e;
      S.election = null;
    }
  }

  function waiting() {
    return h('section', { class: 'card' }, h('h1', { text: 'No election yet' }),
      h('p', { text: 'The log has no election definition yet. This page fills in by itself as entries arrive.' }));
  }
  function problem(e) {
    return h('section', { class: 'card notice' }, h('h1', { text: 'Could not load this view' }),
      h('p', { text: e.message || String(e) }), h('p', h('a', { href: '#/' }, 'Back to the results')));
  }
  async function notFound() {
    return h('section', { class: 'card' }, h('h1', { text: 'No such page' }), h('p', h('a', { href: '#/' }, 'Back to the results')));
  }

  function crumbs(path, here) {
    const items = [h('a', { href: regionHref(null) }, 'Whole election')];
    for (const p of path || []) items.push(' › ', h('a', { href: regionHref(p.region) }, p.name || p.region));
    if (here) items.push(' › ', h('span', { text: here }));
    return h('nav', { class: 'crumbs', 'aria-label': 'Where you are' }, items);
  }

  function sourcePicker(onto) {
    const sel = h('select', { id: 'source', 'aria-label': 'Whose figures' },
      sources().map((s) => h('option', { value: sourceKey(s), selected: sourceKey(s) === S.source }, sourceLabel(s))));
    if (!sources().some((s) => sourceKey(s) === S.source)) {
      sel.prepend(h('option', { value: S.source, selected: true }, S.source));
    }
    sel.addEventListener('change', () => {
      const r = route();
      r.params.set('source', sel.value);
      if (sel.value === 'official') r.params.delete('source');
      location.hash = href(onto.view, onto.code, Object.fromEntries(r.params));
    });
    return h('label', { class: 'control' }, 'Figures from ', sel);
  }

  function coverage(reporting, total, what) {
    return h('div', { class: 'coverage' },
      h('div', { class: 'meter', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': reporting },
        h('span', { style: { width: total ? `${(100 * reporting) / total}%` : '0' } })),
      h('p', { class: 'coverage-text' }, h('strong', { text: `${fmt(reporting)} of ${fmt(total)}` }),
        ` stations reporting${what ? ` (${what})` : ''}`));
  }

  // A hemicycle of seats, filled party by party from the left.
  function parliament(parts) {
    const n = parts.reduce((a, p) => a + p.seats, 0);
    if (!n) return h('p', { class: 'muted', text: 'No seats allocated yet.' });
    const rows = n <= 16 ? 1 : Math.min(12, Math.round(Math.sqrt(n / 3.2)));
    const r0 = rows === 1 ? 0.75 : 0.38;
    const radii = Array.from({ length: rows }, (_, i) => (rows === 1 ? r0 : r0 + ((1 - r0) * i) / (rows - 1)));
    const sumR = radii.reduce((a, b) => a + b, 0);
    const counts = radii.map((r) => Math.floor((n * r) / sumR));
    counts[rows - 1] += n - counts.reduce((a, b) => a + b, 0);
    const seats = [];
    radii.forEach((r, i) => {
      const k = counts[i];
      for (let j = 0; j < k; j++) {
        const a = k === 1 ? Math.PI / 2 : (Math.PI * j) / (k - 1);
        seats.push({ a, x: -Math.cos(a) * r, y: -Math.sin(a) * r });
      }
    });
    seats.sort((p, q) => p.a - q.a || q.y - p.y);
    const spacing = Math.min(rows > 1 ? (1 - r0) / (rows - 1) : 0.5, Math.max(...counts) > 1 ? (Math.PI * 1) / (Math.max(...counts) - 1) : 0.5);
    const dot = Math.min(0.08, spacing * 0.42);
    const colors = parts.flatMap((p) => Array(p.seats).fill(p));
    return svg('svg', { viewBox: '-1.1 -1.1 2.2 1.2', class: 'parliament', role: 'img', 'aria-label': parts.map((p) => `${p.party}: ${p.seats}`).join(', ') },
      seats.map((s, i) => svg('circle', { cx: s.x.toFixed(4), cy: s.y.toFixed(4), r: dot.toFixed(4), fill: partyColor(colors[i].party) },
        svg('title', {}, `${partyName(colors[i].party)}`))),
      svg('text', { x: 0, y: -0.05, 'text-anchor': 'middle', class: 'seat-total' }, `${n}`));
  }

  function voteBars(votes, valid) {
    const rows = Object.entries(votes || {}).sort((a, b) => b[1] - a[1]);
    if (!rows.length) return h('p', { class: 'muted', text: 'No votes counted yet.' });
    const top = rows[0][1];
    return h('ol', { class: 'bars' }, rows.map(([p, v]) => h('li', {},
      h('span', { class: 'bar-label' }, chip(p), partyName(p)),
      h('span', { class: 'bar' }, h('span', { style: { width: `${(100 * v) / top}%`, background: partyColor(p) } })),
      h('span', { class: 'bar-value' }, fmt(v), h('small', { text: ` ${pct(v, valid)}` })))));
  }

  function leader(votes, valid) {
    const rows = Object.entries(votes || {}).sort((a, b) => b[1] - a[1]);
    if (!rows.length) return h('span', { class: 'muted', text: '—' });
    return h('span', {}, chip(rows[0][0]), rows[0][0], h('small', { class: 'muted', text: ` ${pct(rows[0][1], valid)}` }));
  }

  function figures(t, registered) {
    return h('dl', { class: 'figures' },
      h('div', {}, h('dt', { text: 'Registered' }), h('dd', { text: fmt(registered ?? t.registered) })),
      h('div', {}, h('dt', { text: 'Ballots cast' }), h('dd', {}, fmt(t.cast), h('small', { text: ` turnout ${pct(t.cast, t.registered)}` }))),
      h('div', {}, h('dt', { text: 'Valid' }), h('dd', { text: fmt(t.valid) })),
      h('div', {}, h('dt', { text: 'Invalid' }), h('dd', { text: fmt(t.invalid) })));
  }

  // ---- results: national and every region ----------------------------------

  async function viewResults(r) {
    const src = r.params.get('source') || 'official';
    S.source = src;
    const c = contest(r.params);
    const where = r.code;
    const reg = (await api(`/v1/regions${where ? `/${where}` : ''}${qs({ limit: 500 })}`)).answer;
    const kidLevel = reg.children.level;
    const seatsHere = !where || (c && reg.seats && reg.seats[c.id]);
    const [own, kids, seats] = await Promise.all([
      api(`/v1/tallies${qs({ level: reg.level, within: where, source: src, contest: c && c.id })}`).catch((e) => e),
      kidLevel ? api(`/v1/tallies${qs({ level: kidLevel, within: where, source: src, contest: c && c.id, limit: 500 })}`).catch((e) => e) : null,
      seatsHere ? api(`/v1/seats${qs({ source: src, contest: c && c.id })}`).catch((e) => e) : null,
    ]);
    let flags = new Map();
    if (kidLevel === 'station') flags = await stationFlags(where, c);

    const title = where ? reg.name || where : 'Whole election';
    const out = h('section', { class: 'results' });
    if (where) out.append(crumbs(reg.path, null));
    out.append(h('div', { class: 'head' },
      h('h1', {}, title, where ? h('small', { class: 'muted', text: ` ${LEVELS[reg.level]} ${where}` }) : null),
      h('div', { class: 'controls' }, sourcePicker({ view: where ? 'region' : '', code: where }))));
    if (own instanceof Error) {
      out.append(h('p', { class: 'notice', text: own.message }));
      return out;
    }
    const row = own.answer.rows[0];
    const t = row ? row.totals : { stations: 0, votes: {} };
    out.append(coverage(t.stations, reg.stations, sourceLabel(own.answer.source)));

    const grid = h('div', { class: 'grid' });
    if (seats && !(seats instanceof Error)) {
      let parts;
      let caption;
      if (where) {
        const con = seats.answer.constituencies.find((x) => x.region === where);
        parts = con ? con.allocation.won : [];
        caption = `${reg.seats[c.id]} seats in this constituency (D'Hondt)`;
      } else {
        parts = seats.answer.totals;
        const n = parts.reduce((a, p) => a + p.seats, 0);
        caption = `${n} seats; majority ${Math.floor(n / 2) + 1}`;
      }
      parts = parts.filter((p) => p.seats > 0);
      grid.append(h('div', { class: 'card seats' }, h('h2', { text: 'Seats' }), parliament(parts),
        h('p', { class: 'muted small', text: `${caption}, from these figures as they stand.` }),
        h('ul', { class: 'legend' }, parts.map((p) => h('li', {}, chip(p.party), partyName(p.party), h('strong', { text: ` ${p.seats}` }))))));
    }
    grid.append(h('div', { class: 'card votes' }, h('h2', { text: 'Votes' }), voteBars(t.votes, t.valid), figures(t)));
    out.append(grid);

    if (kids && !(kids instanceof Error)) out.append(childTable(reg, kids.answer, flags));
    return out;
  }

  // For a commune's stations: where does any other source disagree with the
  // official figures? One comparison per source, over this commune only.
  async function stationFlags(where, c) {
    const flags = new Map();
    const others = sources().filter((s) => s.role !== 'authority');
    const answers = await Promise.all(others.map((s) =>
      api(`/v1/mismatches${qs({ b: sourceKey(s), within: where, contest: c && c.id, limit: 1000 })}`).catch(() => null)));
    answers.forEach((a, i) => {
      if (!a) return;
      for (const row of a.answer.rows) {
        if (!flags.has(row.station)) flags.set(row.station, []);
        flags.get(row.station).push(others[i]);
      }
    });
    return flags;
  }

  function childTable(reg, kids, flags) {
    const level = reg.children.level;
    const names = new Map(reg.children.rows.map((x) => [x.region, x]));
    const stationsLevel = level === 'station';
    const body = kids.rows.map((k) => {
      const info = names.get(k.region) || {};
      const t = k.totals;
      const disagree = flags.get(k.region) || [];
      return h('tr', { class: disagree.length ? 'row-mismatch' : null, 'data-region': k.region },
        h('th', { scope: 'row' }, h('a', { href: regionHref(k.region) }, stationsLevel ? `Station ${k.region.split('/').pop()}` : (info.name || k.name || k.region)),
          h('small', { class: 'muted', text: ` ${k.region}` })),
        h('td', { class: 'reporting' }, stationsLevel
          ? (t.stations ? h('span', { class: 'ok', text: 'reported' }) : h('span', { class: 'muted', text: 'no form yet' }))
          : [h('span', { text: `${fmt(t.stations)} of ${fmt(k.stations)}` }),
            h('span', { class: 'meter small' }, h('span', { style: { width: k.stations ? `${(100 * t.stations) / k.stations}%` : '0' } }))]),
        h('td', {}, leader(t.votes, t.valid)),
        h('td', { class: 'num' }, fmt(t.valid)),
        stationsLevel ? h('td', {}, disagree.map((s) => h('span', { class: 'badge mismatch', title: `${sourceLabel(s)} published different figures` }, `≠ ${s.org}`))) : null);
    });
    const more = reg.children.total > reg.children.rows.length
      ? h('p', { class: 'muted small', text: `The first ${reg.children.rows.length} of ${reg.children.total}.` }) : null;
    return h('div', { class: 'card' }, h('h2', { text: PLURAL[level] || 'Regions' }),
      h('div', { class: 'scroll' }, h('table', { class: 'regions' },
        h('thead', {}, h('tr', {}, h('th', { text: stationsLevel ? 'Station' : 'Name' }), h('th', { text: 'Reporting' }),
          h('th', { text: 'Leading' }), h('th', { class: 'num', text: 'Valid votes' }), stationsLevel ? h('th', { text: 'Disagreements' }) : null)),
        h('tbody', {}, body))), more);
  }

  // ---- one station: every version of every source's form ------------------

  async function viewStation(r) {
    const where = r.code;
    const [st, reg, anomalies] = await Promise.all([
      api(`/v1/stations/${where}`),
      api(`/v1/regions/${where}`).catch(() => null),
      api(`/v1/anomalies${qs({ within: where, limit: 500 })}`).catch(() => null),
    ]);
    const a = st.answer;
    const out = h('section', { class: 'station' });
    out.append(crumbs(reg && reg.answer.path, `Station ${where.split('/').pop()}`));
    out.append(h('div', { class: 'head' }, h('h1', {}, `Station ${where}`),
      h('p', { class: 'muted' }, a.registered == null ? 'Not in the published geography.' : `${fmt(a.registered)} registered voters (geography)`)));

    const contests = [...new Set(a.versions.map((v) => v.form.contest))];
    if (!contests.length) out.append(h('p', { class: 'notice', text: 'No source has published a form for this station yet.' }));
    for (const cid of contests) out.append(stationContest(a, cid, contests.length > 1));

    if (anomalies && anomalies.answer.rows.length) {
      out.append(h('div', { class: 'card anomalies' }, h('h2', { text: 'Anomalies' }),
        h('ul', {}, anomalies.answer.rows.map((x) => {
          const old = a.versions.some((v) => v.event === x.event && !v.current);
          return h('li', { class: `anomaly${old ? ' old' : ''}` },
            h('span', { class: 'badge warn', text: x.kind.replace(/_/g, ' ') }), ' ', x.detail,
            h('small', { class: 'muted', text: ` — ${sourceLabel(x.source)}, entry #${x.index}${old ? ', a version since replaced' : ''}` }));
        }))));
    }

    out.append(h('div', { class: 'card' }, h('h2', { text: 'Every version, in log order' }),
      h('ol', { class: 'versions' }, a.versions.map(version))));

    if (a.complaints.length) {
      out.append(h('div', { class: 'card' }, h('h2', { text: 'Complaints about this station' }),
        h('ul', {}, a.complaints.map((id) => h('li', {}, h('a', { href: href('complaints', null, { id }) }, 'complaint '), code(short(id), id))))));
    }
    return out;
  }

  function stationContest(a, cid, named) {
    const current = a.versions.filter((v) => v.current && v.form.contest === cid);
    const order = sources().map(sourceKey);
    current.sort((x, y) => order.indexOf(sourceKey(x.source)) - order.indexOf(sourceKey(y.source)));
    const official = current.find((v) => v.source && v.source.role === 'authority');
    const parties = [...new Set(current.flatMap((v) => Object.keys(v.form.votes)))];
    const ballot = (S.election.contests.find((c) => c.id === cid) || { parties: [] }).parties;
    parties.sort((p, q) => (ballot.indexOf(p) + 1 || 99) - (ballot.indexOf(q) + 1 || 99));
    const rows = [...FIELDS.map(([f, label]) => [label, (v) => v.form[f]]),
      ...parties.map((p) => [[chip(p), p, h('span', { class: 'long muted', text: ` ${partyName(p)}` })], (v) => v.form.votes[p] ?? 0])];

    const comps = a.comparisons.filter((x) => current.some((v) => v.event === x.a) || !official);
    const mismatches = comps.filter((x) => x.verdict === 'mismatch');
    const card = h('div', { class: 'card' }, h('h2', { text: named ? `Current figures: ${cid}` : 'Current figures, by source' }));
    if (official && comps.length) {
      card.append(h('div', { class: `verdict ${mismatches.length ? 'mismatch' : 'match'}` },
        mismatches.length
          ? h('strong', { text: `Sources disagree: ${mismatches.length} of ${comps.length} other source${comps.length > 1 ? 's' : ''} differ from the official form.` })
          : h('strong', { text: `All ${comps.length} other source${comps.length > 1 ? 's' : ''} match the official form.` }),
        h('ul', {}, mismatches.map((m) => {
          const other = current.find((v) => v.event === m.b);
          return h('li', {}, `${sourceLabel(other && other.source)}: `,
            m.differences.map((d, i) => [i ? '; ' : '', `${fieldName(d.field)} ${fmt(d.b)} (official ${fmt(d.a)})`]));
        }))));
    } else if (!official) {
      card.append(h('p', { class: 'notice', text: 'No official form yet: nothing to compare the other sources with.' }));
    }
    const table = h('table', { class: 'forms' },
      h('thead', {}, h('tr', {}, h('th', { text: '' }), current.map((v) => h('th', { scope: 'col', title: sourceLabel(v.source) },
        v.source ? v.source.org : '?', h('br'), h('small', { class: 'muted', text: sourceLabel(v.source).replace(/^.*\(/, '(') }),
        v.kind !== 'result' ? h('small', { class: 'muted', text: ` ${v.kind}` }) : null)))),
      h('tbody', {}, rows.map(([label, get]) => {
        const differs = official && current.some((v) => get(v) !== get(official));
        return h('tr', { class: differs ? 'row-diff' : null }, h('th', { scope: 'row' }, label), current.map((v) => {
          const diff = official && v !== official && get(v) !== get(official);
          return h('td', { class: diff ? 'num diff' : 'num', title: diff ? `official: ${fmt(get(official))}` : null }, fmt(get(v)));
        }));
      }),
      h('tr', { class: 'flags' }, h('th', { scope: 'row', text: 'Flags' }), current.map((v) => h('td', {},
        v.anomalies.length ? v.anomalies.map((k) => h('span', { class: 'badge warn', text: k.replace(/_/g, ' ') })) : h('span', { class: 'muted', text: 'none' }))))));
    card.append(h('div', { class: 'scroll' }, table));
    return card;
  }

  function fieldName(f) {
    if (f.startsWith('votes.')) return `votes for ${f.slice(6)}`;
    return (FIELDS.find(([k]) => k === f) || [f, f])[1].toLowerCase();
  }

  function version(v) {
    const f = v.form;
    const facts = [
      ['Source', sourceLabel(v.source)],
      ['Signed by key', code(short(v.author), v.author)],
      ['Signed at', time(v.time)],
      ['Log entry', [h('a', { href: `/v1/entries/${v.index}` }, `#${v.index}`), ' · ', h('a', { href: `/v1/proofs/inclusion${qs({ index: v.index })}` }, 'inclusion proof')]],
      ['Event id', code(short(v.event), v.event)],
      ['Form image SHA-256', f.image_sha256 ? code(short(f.image_sha256), f.image_sha256) : h('span', { class: 'muted', text: 'none published' })],
    ];
    if (v.supersedes) facts.push(['Replaces', code(short(v.supersedes), v.supersedes)]);
    if (v.reason) facts.push(['Reason', v.reason]);
    if (v.ordered_by) facts.push(['Ordered by ruling', code(short(v.ordered_by), v.ordered_by)]);
    if (v.superseded_by) facts.push(['Replaced by', code(short(v.superseded_by), v.superseded_by)]);
    return h('li', { class: `version${v.current ? ' current' : ' superseded'}`, 'data-index': v.index, 'data-event': v.event },
      h('div', { class: 'version-head' },
        h('strong', { text: sourceLabel(v.source) }), ' ',
        h('span', { class: `badge kind-${v.kind}`, text: KINDS[v.kind] || v.kind }), ' ',
        v.current ? h('span', { class: 'badge ok', text: 'current' }) : h('span', { class: 'badge muted', text: 'superseded' }),
        v.anomalies.map((k) => [' ', h('span', { class: 'badge warn', text: k.replace(/_/g, ' ') })])),
      h('p', { class: 'version-figures' },
        FIELDS.map(([k, label]) => h('span', {}, `${label.split(' ')[0]} `, h('strong', { text: fmt(f[k]) }))),
        Object.entries(f.votes).map(([p, n]) => h('span', {}, chip(p), `${p} `, h('strong', { text: fmt(n) })))),
      h('dl', { class: 'facts' }, facts.map(([k, x]) => h('div', {}, h('dt', { text: k }), h('dd', {}, x)))),
      v.endorsements.length ? h('p', { class: 'small' }, 'Attested by ',
        v.endorsements.map((e, i) => [i ? ', ' : '', sourceLabel(e.source), e.note ? ` (“${e.note}”)` : ''])) : null);
  }

  // ---- comparison of official figures with another source -----------------

  async function viewCompare(r) {
    const c = contest(r.params);
    const others = sources().filter((s) => s.role !== 'authority');
    const out = h('section', { class: 'compare' }, h('h1', { text: 'Official figures against other sources' }));
    if (!sourceByKey('official') || !others.length) {
      out.append(h('p', { class: 'notice', text: 'Nothing to compare yet: that needs official forms and forms from another source.' }));
      return out;
    }
    const b = r.params.get('b') || sourceKey(others.find((s) => s.role === 'observer') || others[0]);
    const within = r.params.get('within') || null;
    const offset = Math.max(0, Number(r.params.get('offset')) || 0);
    const reg = (await api(`/v1/regions${within ? `/${within}` : ''}${qs({ limit: 1000 })}`)).answer;
    const level = reg.children.level || reg.level;
    const [cmp, mis] = (await Promise.all([
      api(`/v1/compare${qs({ b, within, level, contest: c && c.id, limit: 0 })}`),
      api(`/v1/mismatches${qs({ b, within, contest: c && c.id, offset, limit: 50 })}`),
    ])).map((x) => x.answer);
    const names = new Map(reg.children.rows.map((x) => [x.region, x.name]));
    const go = (p) => href('compare', null, { b, within, ...p });

    const sel = h('select', { id: 'compare-with', 'aria-label': 'Compare with' },
      others.map((s) => h('option', { value: sourceKey(s), selected: sourceKey(s) === b }, sourceLabel(s))));
    sel.addEventListener('change', () => { location.hash = href('compare', null, { b: sel.value, within }); });
    out.append(h('div', { class: 'controls' }, h('label', { class: 'control' }, 'Official against ', sel)));
    if (within) {
      const path = [...reg.path, { region: within, name: reg.name }];
      out.append(h('nav', { class: 'crumbs' }, h('a', { href: go({ within: null }) }, 'Whole election'),
        path.map((p) => [' › ', h('a', { href: go({ within: p.region }) }, p.name || p.region)])));
    }
    const o = cmp.overall;
    out.append(h('div', { class: 'card overall' },
      h('p', { class: 'big' }, h('strong', { id: 'match-rate', text: o.match_rate == null ? '—' : `${(100 * o.match_rate).toFixed(1)}%` }),
        ` of the ${fmt(o.matched + o.mismatched)} stations both published match`),
      h('p', { class: 'muted' }, `${fmt(o.matched)} match, `, h('strong', { class: o.mismatched ? 'bad' : null, text: `${fmt(o.mismatched)} differ` }),
        `, ${fmt(o.only_a)} only official, ${fmt(o.only_b)} only ${sourceLabel(cmp.b)}`)));

    out.append(h('div', { class: 'card' }, h('h2', { text: `Match rate by ${LEVELS[level].toLowerCase()}` }),
      h('div', { class: 'scroll' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Region', 'Match rate', 'Match', 'Differ', 'Only official', 'Only other'].map((x, i) => h('th', { class: i > 1 ? 'num' : null, text: x })))),
        h('tbody', {}, cmp.regions.map((x) => h('tr', { class: x.mismatched ? 'row-mismatch' : null },
          h('th', { scope: 'row' }, level === 'station'
            ? h('a', { href: regionHref(x.region) }, x.region)
            : h('a', { href: go({ within: x.region, offset: null }) }, names.get(x.region) || x.region)),
          h('td', {}, x.match_rate == null ? '—' : [h('span', { class: 'meter small' }, h('span', { style: { width: `${100 * x.match_rate}%` } })), ` ${(100 * x.match_rate).toFixed(1)}%`]),
          h('td', { class: 'num', text: fmt(x.matched) }), h('td', { class: 'num', text: fmt(x.mismatched) }),
          h('td', { class: 'num', text: fmt(x.only_a) }), h('td', { class: 'num', text: fmt(x.only_b) }))))))));

    const list = h('ol', { class: 'mismatches', start: offset + 1 }, mis.rows.map((x) => h('li', { 'data-station': x.station },
      h('a', { href: regionHref(x.station) }, x.station), ' ',
      h('span', { class: 'badge mismatch', text: 'differ' }), ' ',
      x.differences.map((d, i) => [i ? '; ' : '', `${fieldName(d.field)}: official ${fmt(d.a)}, ${cmp.b.org} ${fmt(d.b)}`]))));
    out.append(h('div', { class: 'card' }, h('h2', { text: `Stations where the figures differ (${fmt(mis.total)})` }),
      mis.total ? list : h('p', { class: 'muted', text: 'None: wherever both published, the figures match.' }),
      pager(mis.total, offset, 50, (off) => go({ offset: off || null }))));
    return out;
  }

  function pager(total, offset, per, to) {
    if (total <= per) return null;
    return h('p', { class: 'pager' },
      offset > 0 ? h('a', { href: to(Math.max(0, offset - per)) }, '‹ previous') : null, ' ',
      h('span', { class: 'muted', text: `${fmt(offset + 1)}–${fmt(Math.min(total, offset + per))} of ${fmt(total)}` }), ' ',
      offset + per < total ? h('a', { href: to(offset + per) }, 'next ›') : null);
  }

  // ---- complaints ------------------------------------------------------------

  async function viewComplaints(r) {
    const show = r.params.get('show') || 'all';
    const one = r.params.get('id');
    const at = r.params.get('at');
    const [board, newest] = await Promise.all([
      api(`/v1/complaints${qs({ now: at, limit: 10000 })}`).then((x) => x.answer),
      S.size ? fetch(`/v1/entries/${S.size - 1}`).then((x) => (x.ok ? x.json() : null)).catch(() => null) : null,
    ]);
    const lastTime = newest && newest.event.body.time;
    const keep = {
      all: () => true,
      open: (c) => OPEN.has(c.status),
      overdue: (c) => c.overdue,
      resolved: (c) => !OPEN.has(c.status),
    }[show] || (() => true);
    const rows = board.rows.filter((c) => !one || c.event === one).filter(keep).sort((a, b) => (b.overdue - a.overdue) || (a.filed < b.filed ? 1 : -1));
    const open = board.rows.filter((c) => OPEN.has(c.status)).length;
    const tabs = [['all', `All ${board.total}`], ['open', `Open ${open}`], ['overdue', `Overdue ${board.overdue}`], ['resolved', `Resolved ${board.total - open}`]];
    const atInput = h('input', { type: 'datetime-local', id: 'board-at', value: (at || '').replace(/Z$/, ''), step: 1 });
    const out = h('section', { class: 'complaints' }, h('h1', { text: 'Complaints board' }),
      h('p', { class: 'muted' }, `Deadlines judged at ${time(board.now)}. `,
        h('label', {}, 'Judge at (UTC): ', atInput), ' ',
        h('button', { type: 'button', onclick: () => { location.hash = href('complaints', null, { show, at: atInput.value ? `${atInput.value.length === 16 ? `${atInput.value}:00` : atInput.value}Z` : null }); } }, 'apply'),
        at ? [' ', h('a', { href: href('complaints', null, { show }) }, 'now')] : null,
        lastTime && lastTime !== at ? [' ', h('a', { href: href('complaints', null, { show, at: lastTime }), title: 'The time the newest entry in the log claims' }, `at the newest entry (${time(lastTime)})`)] : null),
      h('ul', { class: 'status-counts' }, Object.entries(board.by_status).map(([k, n]) => h('li', {}, h('span', { class: `badge st-${k}`, text: STATUS[k] || k }), ` ${n}`))),
      h('nav', { class: 'filter' }, tabs.map(([k, label]) => h('a', { href: href('complaints', null, { show: k === 'all' ? null : k, at }), class: k === show && !one ? 'active' : null }, label))));
    if (one) out.append(h('p', {}, 'One complaint. ', h('a', { href: href('complaints', null, { at }) }, 'Show them all')));
    out.append(rows.length ? h('div', {}, rows.map(complaint)) : h('p', { class: 'muted', text: 'No complaints here.' }));
    return out;
  }

  const CATEGORY = (c) => c.replace(/_/g, ' ').replace(/^./, (x) => x.toUpperCase());

  function complaint(c) {
    const res = c.steps.find((s) => s.kind === 'complaint_resolved');
    return h('article', { class: `complaint st-${c.status}${c.overdue ? ' overdue' : ''}`, 'data-event': c.event },
      h('div', { class: 'complaint-head' },
        h('strong', { text: CATEGORY(c.category) }), ' ',
        h('span', { class: `badge st-${c.status}`, text: STATUS[c.status] || c.status }),
        c.overdue ? [' ', h('span', { class: 'badge bad', text: 'overdue' })] : null,
        c.filed_late ? [' ', h('span', { class: 'badge warn', text: 'filed late' })] : null,
        c.answered_late ? [' ', h('span', { class: 'badge warn', text: 'answered late' })] : null),
      h('p', { class: 'summary', text: c.summary }),
      h('p', { class: 'muted small' }, `Filed by ${sourceLabel(c.filer)} at ${time(c.filed)}`,
        c.region ? [' about ', h('a', { href: regionHref(c.region) }, c.region)] : ' about the whole election',
        `. Resolution due ${time(c.resolution_due)}.`,
        c.evidence.length ? [' Evidence: ', c.evidence.map((e, i) => [i ? ', ' : '', code(short(e), e)])] : null),
      res ? h('blockquote', { class: 'reasoning' }, h('strong', { text: `${(res.outcome || '').replace(/_/g, ' ')}: ` }), res.reasoning || '') : null,
      c.steps.length ? h('ol', { class: 'steps' }, c.steps.map((s) => h('li', {},
        h('span', { class: 'muted', text: `${time(s.time)} ` }), KINDS[s.kind] || s.kind,
        s.outcome ? ` (${s.outcome.replace(/_/g, ' ')})` : '', ` by ${sourceLabel(s.source)}`,
        s.reasoning && s !== res ? h('q', { text: s.reasoning }) : null))) : null,
      c.recounts_ordered.length ? h('p', { class: 'small' }, 'Recounts ordered at ',
        c.recounts_ordered.map((s, i) => [i ? ', ' : '', h('a', { href: regionHref(s) }, s)]),
        `; ${c.recounts.length} published.`) : null);
  }

  // ---- anomalies -------------------------------------------------------------

  async function viewAnomalies(r) {
    const kind = r.params.get('kind') || null;
    const offset = Math.max(0, Number(r.params.get('offset')) || 0);
    const a = (await api(`/v1/anomalies${qs({ kind, offset, limit: 100 })}`)).answer;
    const kinds = ['cast_mismatch', 'valid_mismatch', 'cast_above_registered', 'turnout_above_100', 'registered_mismatch',
      'party_not_on_ballot', 'unknown_contest', 'unknown_station', 'duplicate_image', 'implausible_figure', 'duplicate_form'];
    const sel = h('select', { 'aria-label': 'Kind' }, h('option', { value: '' }, 'every kind'),
      kinds.map((k) => h('option', { value: k, selected: k === kind }, k.replace(/_/g, ' '))));
    sel.addEventListener('change', () => { location.hash = href('anomalies', null, { kind: sel.value || null }); });
    return h('section', { class: 'anomalies' }, h('h1', { text: 'Anomalies' }),
      h('p', { class: 'muted', text: 'Forms that do not add up or do not fit the geography. They stay in the log and in the views, flagged; only implausible figures and unknown contests are kept out of the totals.' }),
      h('div', { class: 'controls' }, h('label', { class: 'control' }, 'Show ', sel)),
      a.rows.length ? h('ol', { class: 'anomaly-list', start: offset + 1 }, a.rows.map((x) => h('li', { class: 'anomaly' },
        h('a', { href: regionHref(x.station) }, x.station), ' ', h('span', { class: 'badge warn', text: x.kind.replace(/_/g, ' ') }), ' ', x.detail,
        h('small', { class: 'muted', text: ` — ${sourceLabel(x.source)}, entry #${x.index}` })))) : h('p', { class: 'muted', text: 'None.' }),
      pager(a.total, offset, 100, (off) => href('anomalies', null, { kind, offset: off || null })));
  }

  // ---- audit -----------------------------------------------------------------

  function parseNote(text) {
    const [bodyText, sigText = ''] = text.split('\n\n');
    const lines = bodyText.split('\n');
    const b64 = (s) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
    const hex = (u) => Array.from(u, (x) => x.toString(16).padStart(2, '0')).join('');
    let root = '';
    try { root = hex(b64(lines[2] || '')); } catch { root = lines[2] || ''; }
    const sigs = sigText.split('\n').filter((l) => l.startsWith('— ')).map((l) => {
      const [, name, sig] = l.split(' ');
      let bytes = new Uint8Array();
      try { bytes = b64(sig); } catch { /* shown as is */ }
      let at = null;
      // A c2sp tlog-cosignature: key hash, then a big-endian timestamp.
      if (bytes.length === 76) {
        let t = 0;
        for (let i = 4; i < 12; i++) t = t * 256 + bytes[i];
        at = new Date(t * 1000).toISOString().replace(/\.000Z$/, 'Z');
      }
      return { name, keyId: hex(bytes.slice(0, 4)), at };
    });
    return { origin: lines[0], size: Number(lines[1]), root, extra: lines.slice(3), sigs, text };
  }

  async function viewAudit() {
    const status = api('/v1/status').then((x) => ({ ...x.answer, size: x.size }));
    const [cp, first] = await Promise.all([
      fetch('/v1/checkpoint').then((r) => (r.ok ? r.text() : null)).catch(() => null),
      fetch('/v1/entries/0').then((r) => (r.ok ? r.json() : null)).catch(() => null),
    ]);
    if (cp) S.checkpoint = parseNote(cp);
    const e = S.election;
    const root = first ? first.event.body.author : 'ROOT_KEY';
    const c = S.checkpoint;
    const here = location.origin;
    const out = h('section', { class: 'audit' }, h('h1', { text: 'Audit: check it yourself' }),
      h('p', { text: 'The ledger signs a checkpoint of its log after every batch: the log\'s size and the root of its Merkle tree. Witnesses cosign a checkpoint only after checking that it extends the last one they saw, so a log that is rewritten or shown differently to different people is caught. This page shows what the gateway serves; it does not ask you to trust it.' }));
    if (c) {
      out.append(h('div', { class: 'card', id: 'checkpoint' }, h('h2', { text: 'Latest checkpoint' }),
        h('dl', { class: 'facts wide' },
          h('div', {}, h('dt', { text: 'Log' }), h('dd', { text: c.origin })),
          h('div', {}, h('dt', { text: 'Entries' }), h('dd', { id: 'checkpoint-size', text: fmt(c.size) })),
          h('div', {}, h('dt', { text: 'Root (SHA-256)' }), h('dd', {}, h('code', { class: 'hash wrap', text: c.root }))),
          h('div', {}, h('dt', { text: 'Log key' }), h('dd', {}, h('code', { class: 'hash wrap', text: e.log.key })))),
        h('h3', { text: 'Signatures' }),
        h('table', { class: 'sigs' }, h('thead', {}, h('tr', {}, h('th', { text: 'Signer' }), h('th', { text: 'Key id' }), h('th', { text: 'Cosigned at' }))),
          h('tbody', {}, c.sigs.map((s) => h('tr', {}, h('td', {}, s.name, s.name === c.origin ? h('small', { class: 'muted', text: ' (the log)' }) : h('small', { class: 'muted', text: ' (witness)' })),
            h('td', {}, h('code', { text: s.keyId })), h('td', { text: s.at ? time(s.at) : '—' }))))),
        c.sigs.some((s) => s.name !== c.origin) ? null
          : h('p', { class: 'muted small', text: 'No witness has cosigned this checkpoint (yet, or this ledger has none): only the log vouches for it.' }),
        h('details', {}, h('summary', { text: 'The signed note, as served' }), h('pre', { text: c.text }))));
    } else {
      out.append(h('p', { class: 'notice', text: 'No checkpoint checked yet; it appears here as soon as the gateway has checked one against its copy of the log.' }));
    }
    // The projection hash covers the whole state: it comes when it is ready.
    const tallies = h('div', { class: 'card', id: 'tallies' }, h('h2', { text: 'Tallies' }),
      h('p', { class: 'muted', text: 'Hashing the projection…' }));
    status.then((st) => tallies.replaceChildren(h('h2', { text: 'Tallies' }),
      h('p', {}, `The projection of the first ${fmt(st.size)} entries has hash `, h('code', { class: 'hash wrap', text: st.projection }), '.'),
      st.certifications.length ? h('ul', {}, st.certifications.map((x) => h('li', {},
        `The authority certified the projection of ${fmt(x.log_size)} entries as `, code(short(x.claimed), x.claimed), ': ',
        x.confirmed === true ? h('strong', { class: 'ok', text: 'confirmed by replay' })
          : x.confirmed === false ? h('strong', { class: 'bad', text: 'does NOT match the replay' }) : h('span', { text: 'checked by tallylog audit' }))))
        : h('p', { class: 'muted', text: 'No certified tally yet.' })),
    (e) => tallies.replaceChildren(h('h2', { text: 'Tallies' }), h('p', { class: 'notice', text: e.message })));
    out.append(tallies);
    const cmd = (text) => h('pre', { class: 'cmd', text });
    out.append(h('div', { class: 'card' }, h('h2', { text: 'Verify it yourself' }),
      h('ol', { class: 'howto' },
        h('li', {}, 'Fetch the checkpoint and keep it (a later one must extend it):',
          cmd(`curl -s ${here}/checkpoint > checkpoint.txt`)),
        h('li', {}, 'Verify the whole log from the bytes up, trusting only the election\'s root key: every signature, every rule, every checkpoint, and the tallies. From this gateway (it is trusted for nothing):',
          cmd(`tallylog audit --gateway ${here} --root-key ${root} \\\n    --state monitor.json --report report.json`),
          'or from an audit bundle (written with ', h('code', { text: 'tallylog export' }), '), or a ledger you can reach over NATS:',
          cmd(`tallylog audit log.bundle --root-key ${root} --state monitor.json`),
          cmd(`tallylog audit --nats NATS_URL --election ${e.id} \\\n    --root-key ${root} --state monitor.json`),
          'It exits 0 when everything verified and names the first entry at fault otherwise. Run it again later with the same ', h('code', { text: '--state' }), ': a log that no longer extends what you verified is reported as forked or rolled back.'),
        h('li', {}, 'Check one entry against the checkpoint (an RFC 6962 inclusion proof), or mirror the log as tlog-tiles:',
          cmd(`curl -s '${here}/v1/proofs/inclusion?index=0'\ncurl -s ${here}/tile/0/000${c && c.size < 256 ? `.p/${c.size}` : ''} | xxd | head`)),
        h('li', {}, 'Follow the log live, every entry verified, for your own region:',
          cmd(`tallylog watch --nats NATS_URL --election ${e.id} --region 01 --out feed.jsonl`)))));
    return out;
  }

  const VIEWS = {
    results: viewResults, region: viewResults, station: viewStation,
    compare: viewCompare, complaints: viewComplaints, anomalies: viewAnomalies, audit: viewAudit,
  };

  // ---- live: the log's server-sent events ----------------------------------

  const live = document.getElementById('live');
  const feed = document.getElementById('feed-list');
  let liveState = 'connecting';
  function showLive() {
    live.dataset.state = liveState;
    const cp = S.checkpoint ? ` · checkpoint ${fmt(S.checkpoint.size)}` : '';
    document.getElementById('live-text').textContent = liveState === 'live'
      ? `live · ${fmt(S.size)} entries${cp}` : liveState === 'connecting' ? 'connecting' : 'reconnecting…';
  }

  function where(d) {
    return d.station || (d.form && d.form.station) || d.region || null;
  }
  function feedItem(entry) {
    const b = entry.event.body;
    const d = b.data || {};
    const w = where(d);
    const target = w ? regionHref(w) : d.complaint || b.kind === 'complaint_filed' ? '#/complaints' : null;
    const li = h('li', { 'data-index': entry.index, class: `feed-${b.kind}` },
      h('span', { class: 'muted', text: `#${entry.index} ` }),
      target ? h('a', { href: target }, KINDS[b.kind] || b.kind) : KINDS[b.kind] || b.kind,
      w ? h('span', { text: ` · ${w}` }) : null,
      h('small', { class: 'muted', text: ` · ${time(b.time)}` }));
    feed.prepend(li);
    while (feed.children.length > 12) feed.lastChild.remove();
    document.getElementById('feed-empty').hidden = true;
  }

  let pending = null;
  function refreshSoon() {
    if (pending) return;
    // At most one refresh every two seconds, however fast entries come.
    const wait = Math.max(400, 2000 - (Date.now() - lastRender));
    pending = setTimeout(() => {
      pending = null;
      const busy = document.activeElement && main.contains(document.activeElement) && /^(SELECT|INPUT)$/.test(document.activeElement.tagName);
      if (busy) { refreshSoon(); return; }
      render({ live: true });
    }, wait);
  }

  // One stream, for what the page shows: a region's or a station's entries
  // when it shows one, else the whole log. A phone looking at one commune
  // does not download every entry of a national count.
  let es = null;
  let streamRegion;
  function connect(region) {
    if (!window.EventSource || (es && region === streamRegion)) return;
    if (es) es.close();
    streamRegion = region;
    feed.replaceChildren();
    document.getElementById('feed-empty').hidden = false;
    document.getElementById('feed-title').textContent = region ? `Latest in ${region}` : 'Latest in the log';
    liveState = 'connecting';
    showLive();
    const src = new EventSource(`/v1/stream${qs({ region })}`);
    es = src;
    src.addEventListener('open', () => { liveState = 'live'; showLive(); });
    src.addEventListener('error', () => { liveState = src.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'; showLive(); });
    src.addEventListener('entry', (ev) => {
      let entry;
      try { entry = JSON.parse(ev.data); } catch { return; }
      S.size = Math.max(S.size, entry.index + 1);
      feedItem(entry);
      showLive();
      refreshSoon();
    });
    src.addEventListener('checkpoint', (ev) => {
      S.checkpoint = parseNote(ev.data);
      showLive();
      if (route().view === 'audit') refreshSoon();
    });
  }

  function follow() {
    const r = route();
    connect(['region', 'station'].includes(r.view) ? r.code : null);
  }
  window.addEventListener('hashchange', () => { follow(); render(); });
  follow();
  render();
})();
