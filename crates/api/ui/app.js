// The topology page: reads the Neutron list endpoints and
// /v2.0/cloudnet/port-stats, draws one SVG.
//
// Layout (deterministic: everything sorted by name, then ID):
//   - one horizontal band per project, its security groups and unattached
//     floating IPs in the band's title row;
//   - its routers in a row, each in a column of its own across the page;
//   - its networks as bars as wide as the page, so that a router's column
//     reaches any network it is attached to (also in another project's
//     band, such as a shared external network) with one vertical line;
//   - ports hanging below their network's bar, right of the router columns.
//
// Tenant input (names, descriptions) only ever reaches the DOM through
// textContent or setAttribute on data-/presentation attributes, never
// through a markup parser. The server's Content-Security-Policy forbids
// inline script too.
'use strict';

(() => {
  const SVGNS = 'http://www.w3.org/2000/svg';
  const API = new URL('v2.0/', document.baseURI);
  const TOPOLOGY_MS = 10000;
  const STATS_MS = 3000;
  const TOKEN_KEY = 'cloudnet-token';

  const PAD = 16;
  const TITLE_H = 46;
  const ROUTER_W = 150;
  const ROUTER_H = 58;
  const COL_W = 170;
  const BAR_H = 24;
  const HANG = 18;
  const PORT_W = 230;
  const PORT_H = 104;
  const PORT_GAP = 12;
  const LINE_H = 14;

  class AuthNeeded extends Error {}

  const statusEl = document.getElementById('status');
  const svg = document.getElementById('graph');
  const login = document.getElementById('login');

  /** Port ID → counter text nodes, rebuilt by each render. */
  let counterNodes = new Map();
  /** Port ID → last counters seen, to flag drops that grow. */
  let lastStats = new Map();

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle('error', Boolean(isError));
  }

  async function getJSON(url) {
    const headers = { Accept: 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers['X-Auth-Token'] = token;
    const r = await fetch(url, { headers, credentials: 'omit' });
    if (r.status === 401) throw new AuthNeeded('authentication required');
    if (!r.ok) throw new Error(`${url.pathname}: HTTP ${r.status}`);
    return r.json();
  }

  /** Every item of a collection, following `next` links (bounded). */
  async function list(path, key) {
    let out = [];
    let url = new URL(path, API);
    for (let page = 0; url && page < 1000; page++) {
      const body = await getJSON(url);
      out = out.concat(body[key] || []);
      const next = (body[`${key}_links`] || []).find((l) => l.rel === 'next');
      url = next ? new URL(next.href, API) : null;
    }
    return out;
  }

  async function fetchTopology() {
    const [networks, subnets, ports, routers, fips, groups] = await Promise.all([
      list('networks', 'networks'),
      list('subnets', 'subnets'),
      list('ports', 'ports'),
      list('routers', 'routers'),
      list('floatingips', 'floatingips'),
      list('security-groups', 'security_groups'),
    ]);
    return { networks, subnets, ports, routers, fips, groups };
  }

  // ---- drawing helpers -------------------------------------------------

  function el(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** Shorten for display; the full value goes in a <title> tooltip. */
  function clip(s, n) {
    s = String(s ?? '');
    return s.length > n ? `${s.slice(0, n - 1)}…` : s;
  }

  function label(r) {
    return r.name ? r.name : String(r.id).slice(0, 8);
  }

  function byNameThenId(a, b) {
    return String(a.name || '').localeCompare(String(b.name || '')) ||
      String(a.id).localeCompare(String(b.id));
  }

  function tooltip(parent, lines) {
    parent.appendChild(el('title', {}, lines.filter(Boolean).join('\n')));
  }

  function human(n) {
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    let v = Number(n) || 0;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return `${i ? v.toFixed(1) : v}${units[i]}`;
  }

  function statusClass(s) {
    return `status-${String(s || 'unknown').toLowerCase().replace(/[^a-z]/g, '')}`;
  }

  const isRouterPort = (p) => /^network:(router_interface|ha_router_replicated_interface|router_interface_distributed|router_gateway)$/.test(p.device_owner || '');

  // ---- layout ----------------------------------------------------------

  /** Group resources by project, sorted, with placeholders for networks
   * a port refers to but the caller cannot see. */
  function model(t) {
    const nets = new Map(t.networks.map((n) => [n.id, n]));
    for (const p of t.ports) {
      if (!nets.has(p.network_id)) {
        nets.set(p.network_id, { id: p.network_id, name: `(network ${p.network_id} not visible)`, project_id: p.project_id, placeholder: true });
      }
    }
    const projects = new Map();
    const proj = (id) => {
      const key = id || '(none)';
      if (!projects.has(key)) projects.set(key, { id: key, routers: [], networks: [], groups: [], freeFips: [] });
      return projects.get(key);
    };
    for (const n of nets.values()) proj(n.project_id).networks.push(n);
    for (const r of t.routers) proj(r.project_id).routers.push(r);
    for (const g of t.groups) proj(g.project_id).groups.push(g);
    for (const f of t.fips) if (!f.port_id) proj(f.project_id).freeFips.push(f);
    const ordered = [...projects.values()].sort((a, b) => a.id.localeCompare(b.id));
    for (const p of ordered) {
      p.routers.sort(byNameThenId);
      p.networks.sort(byNameThenId);
      p.groups.sort(byNameThenId);
      p.freeFips.sort((a, b) => String(a.floating_ip_address).localeCompare(String(b.floating_ip_address)));
    }
    const portsOf = new Map();
    for (const p of [...t.ports].sort(byNameThenId)) {
      if (!portsOf.has(p.network_id)) portsOf.set(p.network_id, []);
      portsOf.get(p.network_id).push(p);
    }
    return {
      projects: ordered,
      portsOf,
      subnets: new Map(t.subnets.map((s) => [s.id, s])),
      groups: new Map(t.groups.map((g) => [g.id, g])),
      fipsOf: t.fips.reduce((m, f) => (f.port_id ? m.set(f.port_id, [...(m.get(f.port_id) || []), f]) : m), new Map()),
    };
  }

  /** Right of the router columns, so that no router link crosses it. */
  function drawTitleRow(g, project, y, width, x0) {
    g.appendChild(el('text', { class: 'title', x: x0, y: y + 18 }, `project ${clip(project.id, 40)}`));
    let x = x0;
    const row = y + 26;
    for (const sg of project.groups) {
      const text = `sg ${clip(label(sg), 18)} (${(sg.security_group_rules || []).length} rules)`;
      const w = text.length * 7 + 10;
      const chip = el('g', { class: 'secgroup', 'data-id': sg.id, 'data-kind': 'security_group' });
      chip.appendChild(el('rect', { x, y: row, width: w, height: 16, rx: 3 }));
      chip.appendChild(el('text', { x: x + 5, y: row + 12 }, text));
      tooltip(chip, [`security group ${sg.name || ''}`, `id ${sg.id}`, sg.description]);
      g.appendChild(chip);
      x += w + 6;
    }
    for (const f of project.freeFips) {
      const text = `fip ${f.floating_ip_address} (unattached)`;
      const t = el('text', { class: 'fip-free', 'data-id': f.id, 'data-kind': 'floatingip', x, y: row + 12 }, text);
      tooltip(t, [`floating IP ${f.floating_ip_address}`, `id ${f.id}`]);
      g.appendChild(t);
      x += text.length * 7 + 10;
    }
    return Math.max(width, x + PAD);
  }

  function drawRouter(g, r, x, y) {
    const box = el('g', { class: `router ${statusClass(r.status)}`, 'data-id': r.id, 'data-kind': 'router' });
    box.appendChild(el('rect', { x, y, width: ROUTER_W, height: ROUTER_H }));
    box.appendChild(el('text', { class: 'name', x: x + 6, y: y + 15 }, `router ${clip(label(r), 12)}`));
    const gw = r.external_gateway_info;
    const ips = gw ? (gw.external_fixed_ips || []).map((i) => i.ip_address).join(' ') : '';
    box.appendChild(el('text', { x: x + 6, y: y + 15 + LINE_H }, gw ? `gw ${clip(ips, 17)}` : 'no gateway'));
    box.appendChild(el('text', { x: x + 6, y: y + 15 + 2 * LINE_H }, gw ? `SNAT ${gw.enable_snat === false ? 'off' : 'on'} · ${r.status || ''}` : r.status || ''));
    tooltip(box, [`router ${r.name || ''}`, `id ${r.id}`, `status ${r.status}`, gw && `external network ${gw.network_id}`, ips && `gateway IPs ${ips}`,
      ...(r.routes || []).map((rt) => `route ${rt.destination} via ${rt.nexthop}`)]);
    g.appendChild(box);
  }

  function drawNetwork(g, n, subnets, y, x0, width, labelX) {
    const cidrs = (n.subnets || []).map((id) => subnets.get(id)).filter(Boolean).map((s) => s.cidr);
    const ext = n['router:external'] === true;
    const bar = el('g', { class: 'network', 'data-id': n.id, 'data-kind': 'network' });
    bar.appendChild(el('rect', { class: ext ? 'bar external' : 'bar', x: x0, y, width: width - x0 - PAD, height: BAR_H, rx: 4 }));
    const seg = n['provider:network_type'] ? `${n['provider:network_type']}${n['provider:segmentation_id'] != null ? ` ${n['provider:segmentation_id']}` : ''}` : '';
    const flags = [ext && 'external', n.shared && 'shared', seg].filter(Boolean).join(', ');
    bar.appendChild(el('text', { class: 'label', x: labelX, y: y + 16 }, `${clip(label(n), 32)}  ${cidrs.join(' ')}${flags ? `  (${flags})` : ''}`));
    for (const sid of n.subnets || []) {
      const s = subnets.get(sid);
      if (s) bar.appendChild(el('desc', { 'data-id': s.id, 'data-kind': 'subnet' }, `subnet ${s.name || ''} ${s.cidr} gateway ${s.gateway_ip || 'none'}`));
    }
    tooltip(bar, [`network ${n.name || ''}`, `id ${n.id}`, `status ${n.status || ''}`, flags, ...cidrs.map((c) => `subnet ${c}`)]);
    g.appendChild(bar);
  }

  function drawPort(g, p, m, x, y, barY) {
    g.appendChild(el('line', { class: 'hang', x1: x + 20, y1: barY + BAR_H, x2: x + 20, y2: y }));
    const box = el('g', { class: `port ${statusClass(p.status)}`, 'data-id': p.id, 'data-kind': 'port' });
    box.appendChild(el('rect', { x, y, width: PORT_W, height: PORT_H }));
    const ips = (p.fixed_ips || []).map((i) => i.ip_address).join(' ');
    const host = p['binding:host_id'] || '';
    const owner = (p.device_owner || '').replace(/^(network|compute):/, '');
    const sgs = (p.security_groups || []).map((id) => label(m.groups.get(id) || { id })).join(',');
    const portFips = m.fipsOf.get(p.id) || [];
    const fips = portFips.map((f) => f.floating_ip_address).join(' ');
    const lines = [
      ['name', `${clip(label(p), 20)} ${p.status || ''}`],
      ['ips', clip(ips || 'no fixed IP', 31)],
      ['device', clip(`${owner || 'unbound'}${host ? ` @ ${host}` : ''}`, 31)],
      ['counters', 'rx – · tx –'],
      ['drops', 'drops –'],
      ['fip', ''],
    ];
    const nodes = {};
    lines.forEach(([cls, text], i) => {
      nodes[cls] = el('text', { class: cls, x: x + 6, y: y + 15 + i * LINE_H + (i ? 2 : 0) }, text);
      box.appendChild(nodes[cls]);
    });
    for (const f of portFips) {
      nodes.fip.appendChild(el('tspan', { 'data-id': f.id, 'data-kind': 'floatingip' }, `fip ${f.floating_ip_address} `));
    }
    if (sgs) nodes.fip.appendChild(el('tspan', {}, clip(`sg ${sgs}`, portFips.length ? 14 : 31)));
    tooltip(box, [`port ${p.name || ''}`, `id ${p.id}`, `status ${p.status}`, `mac ${p.mac_address || ''}`, ips && `fixed IPs ${ips}`,
      p.device_id && `device ${p.device_owner || ''} ${p.device_id}`, host && `host ${host}`, fips && `floating IPs ${fips}`, sgs && `security groups ${sgs}`]);
    counterNodes.set(p.id, { box, counters: nodes.counters, drops: nodes.drops });
    g.appendChild(box);
  }

  /** Router ↔ network links: a vertical line in the router's column from
   * its box to the bar, with a diamond (the interface port) on the bar. */
  function drawLinks(g, t, routerPos, barY) {
    const gwPorts = new Map();
    for (const p of t.ports) {
      if (!isRouterPort(p) || !routerPos.has(p.device_id) || !barY.has(p.network_id)) continue;
      const gateway = p.device_owner === 'network:router_gateway';
      if (gateway) gwPorts.set(p.device_id, p);
      drawLink(g, routerPos.get(p.device_id), barY.get(p.network_id), p, gateway);
    }
    for (const r of t.routers) {
      const gw = r.external_gateway_info;
      if (gw && gw.network_id && !gwPorts.has(r.id) && barY.has(gw.network_id) && routerPos.has(r.id)) {
        drawLink(g, routerPos.get(r.id), barY.get(gw.network_id), null, true);
      }
    }
  }

  function drawLink(g, pos, y, port, gateway) {
    const cx = pos.x + ROUTER_W / 2;
    const [y1, y2] = y < pos.y ? [pos.y, y + BAR_H] : [pos.y + ROUTER_H, y];
    g.appendChild(el('line', { class: gateway ? 'link gateway' : 'link', x1: cx, y1, x2: cx, y2 }));
    if (!port) return;
    const my = y + BAR_H / 2;
    const d = el('path', { class: 'iface', 'data-id': port.id, 'data-kind': 'port', d: `M${cx - 8},${my} L${cx},${my - 8} L${cx + 8},${my} L${cx},${my + 8} Z` });
    tooltip(d, [`${port.device_owner} port ${port.name || ''}`, `id ${port.id}`, `status ${port.status}`, ...(port.fixed_ips || []).map((i) => `ip ${i.ip_address}`)]);
    g.appendChild(d);
  }

  function render(t) {
    const m = model(t);
    const nRouters = m.projects.reduce((s, p) => s + p.routers.length, 0);
    const portX0 = PAD + Math.max(1, nRouters) * COL_W + PAD;
    const maxPorts = Math.max(1, ...[...m.portsOf.values()].map((ps) => ps.filter((p) => !isRouterPort(p)).length));
    let width = Math.max(900, portX0 + maxPorts * (PORT_W + PORT_GAP) + PAD);

    const root = el('g', { class: 'topology' });
    const links = el('g', { class: 'links' });
    const routerPos = new Map();
    const barY = new Map();
    counterNodes = new Map();
    let y = PAD;
    let col = 0;
    for (const project of m.projects) {
      const g = el('g', { class: 'project', 'data-id': project.id, 'data-kind': 'project' });
      const band = el('rect', { class: 'band', x: PAD / 2, y, width: 0, height: 0, rx: 6 });
      g.appendChild(band);
      const top = y;
      width = drawTitleRow(g, project, y, width, portX0 + 6);
      y += TITLE_H;
      if (project.routers.length) {
        for (const r of project.routers) {
          const x = PAD + col * COL_W;
          col++;
          routerPos.set(r.id, { x, y });
          drawRouter(g, r, x, y);
        }
        y += ROUTER_H + 20;
      }
      for (const n of project.networks) {
        barY.set(n.id, y);
        const ports = (m.portsOf.get(n.id) || []).filter((p) => !isRouterPort(p));
        drawNetwork(g, n, m.subnets, y, PAD, width, portX0 + 6);
        ports.forEach((p, i) => drawPort(g, p, m, portX0 + i * (PORT_W + PORT_GAP), y + BAR_H + HANG, y));
        y += BAR_H + (ports.length ? HANG + PORT_H : 0) + 22;
      }
      y += 8;
      band.setAttribute('height', String(y - top));
      g.dataset.bandTop = String(top);
      root.appendChild(g);
      y += PAD / 2;
    }
    for (const band of root.querySelectorAll('rect.band')) band.setAttribute('width', String(width - PAD));
    for (const bar of root.querySelectorAll('.network rect.bar')) bar.setAttribute('width', String(width - 2 * PAD));
    drawLinks(links, t, routerPos, barY);
    root.appendChild(links);

    const height = Math.max(y + PAD, 200);
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(height));
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.replaceChildren(root);
    document.body.dataset.networks = String(t.networks.length);
    document.body.dataset.ports = String(t.ports.length);
    document.body.dataset.routers = String(t.routers.length);
  }

  function applyStats(stats) {
    const fresh = new Map();
    for (const [id, nodes] of counterNodes) {
      const s = stats[id];
      if (!s) continue;
      nodes.counters.textContent = `rx ${s.rx_packets}p ${human(s.rx_bytes)} · tx ${s.tx_packets}p ${human(s.tx_bytes)}`;
      nodes.drops.textContent = `drops rx ${s.rx_dropped} tx ${s.tx_dropped} · errs ${s.rx_errors + s.tx_errors}`;
      const before = lastStats.get(id);
      const dropping = Boolean(before) && (s.rx_dropped > before.rx_dropped || s.tx_dropped > before.tx_dropped);
      nodes.box.classList.toggle('dropping', dropping);
      nodes.box.dataset.rxPackets = String(s.rx_packets);
      fresh.set(id, s);
    }
    lastStats = fresh;
  }

  // ---- polling ---------------------------------------------------------

  function failed(e) {
    if (e instanceof AuthNeeded) {
      login.hidden = false;
      document.body.dataset.state = 'login';
      setStatus('this API needs a token (X-Auth-Token)', true);
    } else {
      setStatus(`error: ${e.message}`, true);
    }
  }

  async function refreshTopology() {
    try {
      const t = await fetchTopology();
      render(t);
      login.hidden = true;
      setStatus(`${t.networks.length} networks · ${t.routers.length} routers · ${t.ports.length} ports · updated ${new Date().toLocaleTimeString()}`);
      await refreshStats();
      // Drawn, counters tried: what the browser test waits for.
      document.body.dataset.state = 'ready';
    } catch (e) {
      failed(e);
    }
  }

  async function refreshStats() {
    try {
      const body = await getJSON(new URL('cloudnet/port-stats', API));
      applyStats(body.port_stats || {});
      document.body.dataset.stats = 'ok';
    } catch (e) {
      document.body.dataset.stats = 'unavailable';
      if (e instanceof AuthNeeded) failed(e);
    }
  }

  function every(ms, f) {
    const tick = async () => {
      await f();
      setTimeout(tick, ms);
    };
    setTimeout(tick, ms);
  }

  login.addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value);
    refreshTopology();
  });

  refreshTopology();
  every(TOPOLOGY_MS, refreshTopology);
  every(STATS_MS, refreshStats);
})();
