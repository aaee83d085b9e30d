// tally dashboard: live tallies over Server-Sent Events (/v1/campaigns/{id}/tally/stream),
// answers by status from /metrics, fraud signals from /v1/campaigns/{id}/fraud.
// No libraries, no build step: served as is by tallyd. Under --protect-reads every read
// carries a token (asked for in a form, or given as #token=… in the URL).
'use strict';

const TOP_LINE = 10;            // the campaign picks ten
const RATE_WINDOW_S = 300;      // votes/s chart: last five minutes
const POLL_MS = 5000;           // /metrics and /fraud refresh
const TOKEN_KEY = 'tally-token'; // sessionStorage: this tab only

const LABELS = {
  en: {
    campaign: 'Campaign', board: 'Leaderboard', votes: 'votes', suspect: 'suspect',
    seq: 'as of seq', clean: 'votes', suspectPart: 'suspect part', rate: 'Votes per second',
    rateNote: 'last 5 minutes, now', statuses: 'Answers by status', fraud: 'Fraud signals',
    cut: 'top-10 line', fraudNA: 'Fraud signals are not available on this server yet.',
    flags: 'Flags', ips: 'Top IPs', subnets: 'Top subnets', devices: 'Top devices',
    alerts: 'Alerts', none: 'none', noCampaign: 'No campaign', loading: 'loading…',
    token: 'Read token', open: 'Open', tokenNeeded: 'This server needs a token for its tallies',
    footer: 'tally · committed votes only · updates at least once a second while votes arrive',
    states: { scheduled: 'scheduled', open: 'open', closed: 'closed' },
    log: 'Public log', logSize: 'events signed', logRoot: 'root', logTime: 'signed at',
    logId: 'log id',
    logNote: 'The tally above is counted at this signed checkpoint: anyone can check it against the published log.',
  },
  zh: {
    campaign: '投票活动', board: '实时排行', votes: '票', suspect: '可疑票',
    seq: '截至序号', clean: '有效票', suspectPart: '其中可疑', rate: '每秒票数',
    rateNote: '最近 5 分钟，当前', statuses: '按状态统计的应答', fraud: '刷票信号',
    cut: '前十名线', fraudNA: '本服务器暂未提供刷票信号。',
    flags: '标记', ips: 'IP 排行', subnets: '网段排行', devices: '设备排行',
    alerts: '告警', none: '无', noCampaign: '暂无投票活动', loading: '加载中…',
    token: '读取令牌', open: '打开', tokenNeeded: '本服务器查看票数需要令牌',
    footer: 'tally · 仅统计已落盘的选票 · 有新票时每秒至少刷新一次',
    states: { scheduled: '未开始', open: '进行中', closed: '已结束' },
    log: '公开日志', logSize: '已签名事件数', logRoot: '树根', logTime: '签名时间', logId: '日志标识',
    logNote: '上方票数按此签名检查点统计，任何人都可以用公示的数据包核验。',
  },
};

const STATUS_ZH = {
  accepted: '已计票', duplicate: '重复', quota_exceeded: '超出限额', closed: '不在投票时间',
  unknown_campaign: '未知活动', unknown_candidate: '未知候选人', invalid: '无效',
  unauthorized: '未授权', forbidden: '禁止', too_large: '过大', rate_limited: '限流',
  overloaded: '过载', unavailable: '不可用', not_found: '未找到',
  method_not_allowed: '方法不允许', conflict: '冲突', not_implemented: '未实现',
};
const FLAG_ZH = {
  ip_flood: 'IP 集中', device_multi_account: '一机多号', burst: '突增', no_device: '无设备指纹',
  bot_ua: '脚本 UA',
};

const state = {
  campaigns: [], campaign: null, lang: 'en', source: null, pollTimer: null,
  samples: [],   // [{t: seconds, total}]
  lastTally: null,
};

const $ = (id) => document.getElementById(id);
const L = () => LABELS[state.lang];
const isChinese = (text) => /[\u3400-\u9fff]/.test(text || '');

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'style') node.style.cssText = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

function applyLabels() {
  const l = L();
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  const text = {
    'campaign-label': l.campaign, 'board-title': l.board, 'total-label': l.votes,
    'suspect-label': l.suspect, 'seq-label': l.seq, 'legend-clean': l.clean,
    'legend-suspect': l.suspectPart, 'rate-title': l.rate, 'rate-note': l.rateNote,
    'status-title': l.statuses, 'fraud-title': l.fraud, footer: l.footer,
    'log-title': l.log, 'log-size-label': l.logSize, 'log-root-label': l.logRoot,
    'log-time-label': l.logTime, 'log-id-label': l.logId, 'log-note': l.logNote,
  };
  for (const [id, value] of Object.entries(text)) $(id).textContent = value;
}

// Reads are public unless tallyd runs with --protect-reads. Then each one carries a token:
// one typed into the form, or given in the URL's fragment (#token=…: a fragment is never
// sent to a server, so it stays out of access logs), kept for this tab and taken out of the
// address bar. True when the fragment held one.
function takeTokenFromUrl() {
  const match = /(?:^|&)token=([^&]*)/.exec(location.hash.slice(1));
  if (!match) return false;
  let given = match[1];
  try {
    given = decodeURIComponent(given);  // not URLSearchParams: it would read '+' as a space
  } catch (e) {
    // not percent-encoded after all: the characters as they are
  }
  sessionStorage.setItem(TOKEN_KEY, given);
  const rest = location.hash.slice(1).replace(match[0], '').replace(/^&/, '');
  const url = new URL(location.href);
  url.hash = rest;
  history.replaceState(null, '', url);
  return true;
}

const token = () => sessionStorage.getItem(TOKEN_KEY) || '';
const authHeaders = () => (token() ? { Authorization: 'Bearer ' + token() } : {});

function askForToken() {
  sessionStorage.removeItem(TOKEN_KEY);  // none, or one the server refused
  if (state.source) state.source.close();  // no reads until a token is given
  state.source = null;
  clearInterval(state.pollTimer);
  const first = document.body.dataset.auth !== 'needed';
  document.body.dataset.auth = 'needed';
  $('auth').hidden = false;
  // The campaign, and so the page's language, is not known before the first read.
  const both = (key) => LABELS.zh[key] + ' · ' + LABELS.en[key];
  $('token-label').textContent = both('token');
  $('token-submit').textContent = both('open');
  $('title').textContent = both('tokenNeeded');
  if (first) $('token').focus();
}

// A read the server refused for want of a (valid) token: ask for one. A token can stop
// working while the page is open (tallyd reloads its tokens on SIGHUP).
function refused(answer) {
  if (answer.status !== 401) return false;
  askForToken();
  return true;
}

async function getJson(url) {
  const answer = await fetch(url, { cache: 'no-store', headers: authHeaders() });
  if (!answer.ok) {
    refused(answer);
    throw Object.assign(new Error(url + ': ' + answer.status), { status: answer.status });
  }
  return answer.json();
}

async function loadCampaigns() {
  let doc;
  try {
    doc = await getJson('/v1/campaigns');
  } catch (e) {
    if (e.status === 401) return undefined;  // getJson asked for a token
    throw e;
  }
  $('auth').hidden = true;
  document.body.dataset.auth = token() ? 'given' : 'public';
  state.campaigns = doc.campaigns || [];
  const select = $('campaign');
  select.replaceChildren();
  for (const c of state.campaigns) select.append(el('option', { value: c.id }, c.title || c.id));
  if (state.campaigns.length === 0) {
    $('title').textContent = LABELS.en.noCampaign;
    return;
  }
  const wanted = new URLSearchParams(location.search).get('campaign');
  const chosen = state.campaigns.find((c) => c.id === wanted) ||
      state.campaigns.find((c) => c.state === 'open') || state.campaigns[0];
  select.value = chosen.id;
  selectCampaign(chosen.id);
}

function selectCampaign(id) {
  state.campaign = state.campaigns.find((c) => c.id === id) || { id, title: id, candidates: [] };
  state.lang = isChinese(state.campaign.title) ? 'zh' : 'en';
  state.samples = [];
  state.lastTally = null;
  applyLabels();
  $('title').textContent = state.campaign.title || id;
  document.title = (state.campaign.title || id) + ' — tally';
  $('state').textContent = L().states[state.campaign.state] || '';
  const url = new URL(location.href);
  url.searchParams.set('campaign', id);
  history.replaceState(null, '', url);
  startTally();
  refreshSide();
}

function startTally() {
  if (state.source) state.source.close();
  state.source = null;
  clearInterval(state.pollTimer);
  const id = encodeURIComponent(state.campaign.id);
  // A first snapshot by plain GET, so the page shows the tally even before the stream opens.
  getJson('/v1/campaigns/' + id + '/tally').then(renderTally).catch(() => {});
  if (!window.EventSource || new URLSearchParams(location.search).get('stream') === '0') {
    state.pollTimer = setInterval(() => {
      getJson('/v1/campaigns/' + id + '/tally').then(renderTally).catch(() => {});
    }, 1000);
    return;
  }
  if (token()) return streamWithToken('/v1/campaigns/' + id + '/tally/stream');
  const source = new EventSource('/v1/campaigns/' + id + '/tally/stream');
  state.source = source;
  source.addEventListener('tally', (event) => renderTally(JSON.parse(event.data)));
  source.onopen = () => { $('live').className = 'live on'; };
  source.onerror = () => { $('live').className = 'live off'; };
}

// EventSource cannot send an Authorization header, so with a token the stream is read with
// fetch and its events are parsed here: fields line by line (CR LF, CR and LF all end a
// line), an event ends at a blank line, `id` is sent back as Last-Event-ID when a dropped
// stream is opened again after `retry` ms, as EventSource does.
function streamWithToken(url) {
  const control = new AbortController();
  state.source = { close: () => control.abort() };
  let lastId = '';
  let retryMs = 3000;
  const dispatch = (block) => {
    let type = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;  // a comment: the server's keep-alive
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') lastId = value;
      else if (field === 'retry' && /^[0-9]+$/.test(value)) retryMs = Number(value);
    }
    if (type === 'tally' && data.length > 0) renderTally(JSON.parse(data.join('\n')));
  };
  const open = async () => {
    try {
      const headers = authHeaders();
      if (lastId) headers['Last-Event-ID'] = lastId;
      const answer = await fetch(url, { headers, cache: 'no-store', signal: control.signal });
      if (refused(answer)) {
        control.abort();
        return;
      }
      if (!answer.ok || !answer.body) throw new Error(url + ': ' + answer.status);
      $('live').className = 'live on';
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        // A CR at the end may be the first half of a CR LF split across chunks: keep it.
        buffer += value;
        const tail = buffer.endsWith('\r') ? '\r' : '';
        buffer = buffer.slice(0, buffer.length - tail.length).replace(/\r\n?/g, '\n') + tail;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (e) {
      // A dropped connection, or the abort of a campaign change (checked below).
    }
    if (control.signal.aborted) return;
    $('live').className = 'live off';
    setTimeout(open, retryMs);
  };
  open();
}

function candidateInfo(id) {
  const list = (state.campaign && state.campaign.candidates) || [];
  return list.find((c) => c.id === id) || {};
}

function renderTally(tally) {
  if (!state.campaign || tally.campaign !== state.campaign.id) return;
  state.lastTally = tally;
  $('total').textContent = tally.total;
  $('suspect').textContent = tally.suspect;
  $('as-of-seq').textContent = tally.as_of_seq;
  const board = $('board');
  board.replaceChildren();
  const max = Math.max(1, ...tally.candidates.map((c) => c.votes));
  tally.candidates.forEach((c, index) => {
    if (index === TOP_LINE && tally.candidates.length > TOP_LINE) {
      board.append(el('li', { class: 'cutline' }, L().cut));
    }
    const info = candidateInfo(c.id);
    const suspect = Math.min(c.suspect, c.votes);
    const clean = c.votes - suspect;
    const row = el('li', { class: 'row', 'data-candidate': c.id, 'data-votes': c.votes,
                           'data-suspect': c.suspect },
      el('span', { class: 'rank' }, c.rank),
      el('span', { class: 'name', title: (info.unit || '') + ' ' + (info.industry || '') },
         c.name || c.id, info.industry ? el('small', {}, info.industry) : null),
      el('span', { class: 'track' },
         el('span', { class: 'clean', style: 'width:' + (100 * clean / max) + '%' }),
         el('span', { class: 'flagged', style: 'width:' + (100 * suspect / max) + '%' })),
      el('span', { class: 'count' }, c.votes + ' ' + L().votes,
         suspect > 0 ? el('small', {}, suspect + ' ' + L().suspect) : null));
    board.append(row);
  });
  recordSample(tally.total);
  renderCheckpoint(tally.checkpoint);
}

// The signed checkpoint the tally was counted at (DESIGN.md "Public verification"): its size
// is the tally's as_of_seq. Hashes are shortened on screen, whole in their title.
function renderCheckpoint(checkpoint) {
  if (!checkpoint) return;
  $('log-size').textContent = checkpoint.size;
  $('log-root').textContent = checkpoint.root.slice(0, 16) + '…';
  $('log-root').title = checkpoint.root;
  $('log-id').textContent = checkpoint.log_id.slice(0, 16) + '…';
  $('log-id').title = checkpoint.log_id;
  $('log-time').textContent = new Date(checkpoint.time_ms).toLocaleString(
    state.lang === 'zh' ? 'zh-CN' : undefined);
}

function recordSample(total) {
  const t = performance.now() / 1000;
  state.samples.push({ t, total });
  while (state.samples.length > 2 && state.samples[0].t < t - RATE_WINDOW_S) state.samples.shift();
  drawRate();
}

function drawRate() {
  const canvas = $('rate');
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 180;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const points = [];
  for (let i = 1; i < state.samples.length; i++) {
    const a = state.samples[i - 1], b = state.samples[i];
    if (b.t > a.t) points.push({ t: b.t, rate: Math.max(0, (b.total - a.total) / (b.t - a.t)) });
  }
  const now = performance.now() / 1000;
  const peak = Math.max(1, ...points.map((p) => p.rate));
  g.strokeStyle = '#e3e6eb';
  g.fillStyle = '#6b7482';
  g.font = '11px system-ui, sans-serif';
  for (const f of [0, 0.5, 1]) {
    const y = height - 16 - f * (height - 28);
    g.beginPath(); g.moveTo(32, y); g.lineTo(width, y); g.stroke();
    g.fillText((peak * f).toFixed(peak < 10 ? 1 : 0), 0, y + 4);
  }
  g.strokeStyle = '#2f6fd6';
  g.lineWidth = 2;
  g.beginPath();
  points.forEach((p, i) => {
    const x = 32 + (width - 32) * (1 - (now - p.t) / RATE_WINDOW_S);
    const y = height - 16 - (p.rate / peak) * (height - 28);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  $('rate-now').textContent = points.length ? points[points.length - 1].rate.toFixed(1) : '0';
}

// Prometheus text: the tally_ingest_requests_total{status="..."} samples.
function parseStatuses(text) {
  const out = [];
  const pattern = /^tally_ingest_requests_total\{status="([a-z_]+)"\} ([0-9.e+]+)$/gm;
  let match;
  while ((match = pattern.exec(text)) !== null) out.push({ status: match[1], count: Number(match[2]) });
  return out;
}

async function refreshStatuses() {
  let rows;
  try {
    const answer = await fetch('/metrics', { cache: 'no-store', headers: authHeaders() });
    if (!answer.ok) return refused(answer);
    rows = parseStatuses(await answer.text());
  } catch (e) {
    return;
  }
  const shown = rows.filter((r) => r.count > 0 || r.status === 'accepted');
  const max = Math.max(1, ...shown.map((r) => r.count));
  const body = $('statuses').tBodies[0];
  body.replaceChildren();
  for (const r of shown.sort((a, b) => b.count - a.count)) {
    const label = state.lang === 'zh' ? (STATUS_ZH[r.status] || r.status) + ' (' + r.status + ')' : r.status;
    const error = !['accepted', 'duplicate'].includes(r.status);
    body.append(el('tr', { class: error ? 'err' : 'ok', 'data-status': r.status },
      el('td', {}, label), el('td', { class: 'n' }, r.count),
      el('td', { class: 'bar' }, el('div', { class: 'sbar', style: 'width:' + (100 * r.count / max) + '%' }))));
  }
}

function list(title, items, format) {
  const ul = el('ul');
  if (!items || items.length === 0) ul.append(el('li', { class: 'muted' }, L().none));
  else for (const item of items.slice(0, 10)) ul.append(el('li', {}, format(item)));
  return el('div', {}, el('h3', {}, title), ul);
}

async function refreshFraud() {
  const box = $('fraud');
  if (!state.campaign) return;
  let doc;
  try {
    doc = await getJson('/v1/campaigns/' + encodeURIComponent(state.campaign.id) + '/fraud');
  } catch (e) {
    box.replaceChildren(el('p', { class: 'muted', id: 'fraud-empty' }, L().fraudNA));
    box.dataset.available = 'false';
    return;
  }
  box.dataset.available = 'true';
  const flagName = (f) => (state.lang === 'zh' ? (FLAG_ZH[f] || f) : f);
  const flags = Object.entries(doc.flags || {}).map(([k, v]) => ({ key: k, votes: v }));
  box.replaceChildren(
    list(L().flags, flags, (f) => flagName(f.key) + ': ' + f.votes),
    list(L().ips, doc.top_ips, (h) => h.key + ' — ' + h.votes),
    list(L().subnets, doc.top_subnets, (h) => h.key + ' — ' + h.votes),
    list(L().devices, doc.top_devices, (h) => h.key + ' — ' + h.votes),
    list(L().alerts, doc.alerts, (a) => (typeof a === 'string' ? a : (a.message || JSON.stringify(a)))));
}

function refreshSide() {
  refreshStatuses();
  refreshFraud();
}

$('campaign').addEventListener('change', (event) => selectCampaign(event.target.value));
$('auth').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  loadCampaigns().catch((e) => { $('title').textContent = 'tally: ' + e.message; });
});
takeTokenFromUrl();
// A #token= link opened in a tab that already shows the page.
window.addEventListener('hashchange', () => {
  if (!takeTokenFromUrl()) return;
  loadCampaigns().catch((e) => { $('title').textContent = 'tally: ' + e.message; });
});
window.addEventListener('resize', drawRate);
setInterval(refreshSide, POLL_MS);
setInterval(drawRate, 1000);
loadCampaigns().catch((e) => {
  $('title').textContent = 'tally: ' + e.message;
});
