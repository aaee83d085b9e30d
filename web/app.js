// tally dashboard: live tallies over Server-Sent Events (/v1/campaigns/{id}/tally/stream),
// votes per second from the server's own samples (/v1/campaigns/{id}/history), answers by
// status from /metrics, fraud signals from /v1/campaigns/{id}/fraud and the committee's
// decisions from /v1/campaigns/{id}/decisions (when the server has them).
// No libraries, no build step: served as is by tallyd. Under --protect-reads every read
// carries a token (asked for in a form, or given as #token=… in the URL).
'use strict';

const TOP_LINE = 10;             // the campaign picks ten
const POLL_MS = 5000;            // /metrics, /fraud, /history, /decisions and /v1/campaigns refresh
const TOKEN_KEY = 'tally-token'; // sessionStorage: this tab only
const CONCENTRATION_WARN = 0.5;  // a top-10-IP share above this is shown as a warning
const ALERTS_SHOWN = 8;          // newest alerts in full; the older ones behind a summary line
const DECISIONS_RETRY_MS = 60000; // a server without /decisions is asked again after this
const CHART_MIN_SPAN_MS = 60 * 1000;      // the chart shows at least a minute...
const CHART_MAX_SPAN_MS = 60 * 60 * 1000; // ...and at most the hour the server keeps

const LABELS = {
  en: {
    campaign: 'Campaign', board: 'Leaderboard', votes: 'votes', suspect: 'suspect',
    void: 'void', valid: 'valid', seq: 'as of seq', clean: 'votes', suspectPart: 'suspect part',
    voidPart: 'void',
    conc: 'top-10 IPs: share of its votes from its ten largest addresses', concShort: 'top-10 IPs',
    rate: 'Votes per second', rateNote: 'server samples every 5 s, last hour; now',
    rateEmpty: 'waiting for the server\'s samples…',
    statuses: 'Answers by status', statusNote: 'since tallyd started, all campaigns',
    fraud: 'Fraud signals', cut: 'top-10 line',
    fraudNA: 'Fraud signals are not available on this server yet.',
    flags: 'Flagged votes', rejected: 'rejected', ips: 'Top IPs', subnets: 'Top subnets',
    devices: 'Top devices', alerts: 'Alerts', olderAlerts: (n) => n + ' earlier alerts',
    none: 'none', noCampaign: 'No campaign',
    loading: 'loading…', token: 'Read token', open: 'Open',
    tokenNeeded: 'This server needs a token for its tallies',
    footer: 'tally · committed votes only · updates at least once a second while votes arrive',
    states: { scheduled: 'not yet open', open: 'open', closed: 'closed' },
    opensIn: 'opens in', closesIn: 'closes in', closedAgo: (d) => d + ' ago',
    live: 'live', polling: 'polling every second', offline: 'reconnecting', updated: 'updated',
    ago: (s) => s + ' s ago', days: 'd',
    disqualified: 'Disqualified', decisions: 'Committee decisions', noDecisions: 'No decisions yet.',
    log: 'Public log', logSize: 'events signed', logRoot: 'root', logTime: 'signed at',
    logId: 'log id',
    logNote: 'The tally above is counted at this signed checkpoint: anyone can check it against the published log.',
  },
  zh: {
    campaign: '投票活动', board: '实时排行', votes: '票', suspect: '可疑票',
    void: '作废', valid: '有效票', seq: '截至序号', clean: '票数', suspectPart: '其中可疑',
    voidPart: '已作废',
    conc: 'IP 集中度：该候选人得票中来自其前 10 个 IP 的比例', concShort: '前10个IP',
    rate: '每秒票数', rateNote: '服务器每 5 秒采样，最近一小时；当前',
    rateEmpty: '等待服务器采样…',
    statuses: '按状态统计的应答', statusNote: '自服务启动以来，所有活动合计',
    fraud: '刷票信号', cut: '前十名线', fraudNA: '本服务器暂未提供刷票信号。',
    flags: '被标记的选票', rejected: '已拒绝', ips: 'IP 排行', subnets: '网段排行',
    devices: '设备排行', alerts: '告警', olderAlerts: (n) => '另有 ' + n + ' 条较早的告警',
    none: '无', noCampaign: '暂无投票活动',
    loading: '加载中…', token: '读取令牌', open: '打开', tokenNeeded: '本服务器查看票数需要令牌',
    footer: 'tally · 仅统计已落盘的选票 · 有新票时每秒至少刷新一次',
    states: { scheduled: '未开始', open: '进行中', closed: '已结束' },
    opensIn: '距开始', closesIn: '距结束', closedAgo: (d) => '结束于 ' + d + ' 前',
    live: '实时', polling: '每秒轮询', offline: '重新连接中', updated: '更新于',
    ago: (s) => s + ' 秒前', days: '天',
    disqualified: '取消资格', decisions: '委员会决定', noDecisions: '暂无决定。',
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
const FLAG_EN = {
  ip_flood: 'IP flood', device_multi_account: 'one device, many accounts', burst: 'burst',
  no_device: 'no device id', bot_ua: 'scripted user agent',
};

const state = {
  campaigns: [], campaign: null, lang: 'en', source: null, pollTimer: null, live: 'off',
  lastTally: null,
  history: null,           // the last /history document of the campaign
  concentration: new Map(), // candidate id -> top_ips_share, from /fraud
  updatedMs: 0,            // when the server last answered a read of this campaign
  decisionsRetryMs: 0,     // no /decisions read before this time
};

const $ = (id) => document.getElementById(id);
const L = () => LABELS[state.lang];
const isChinese = (text) => /[\u3400-\u9fff]/.test(text || '');
const locale = () => (state.lang === 'zh' ? 'zh-CN' : 'en-GB');
// Grouped numbers: 142,212 (the zh-CN grouping, which English readers share).
const NUMBER = new Intl.NumberFormat('zh-CN');
const num = (n) => NUMBER.format(Number(n) || 0);
const PERCENT = new Intl.NumberFormat('zh-CN', { style: 'percent', maximumFractionDigits: 1 });
const pct = (share) => PERCENT.format(share);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
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

// ---- times ----

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() &&
      a.getDate() === b.getDate();
}

// A local time: the clock time today, with the date on other days (and the year in others).
function when(ms) {
  const date = new Date(ms);
  const now = new Date();
  const options = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
  if (!sameDay(date, now)) {
    options.month = '2-digit';
    options.day = '2-digit';
    if (date.getFullYear() !== now.getFullYear()) options.year = 'numeric';
  }
  return date.toLocaleString(locale(), options);
}

// A window edge: date and minute, the year only when it is not this one.
function edge(ms) {
  const date = new Date(ms);
  const options = { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
                    hourCycle: 'h23' };
  if (date.getFullYear() !== new Date().getFullYear()) options.year = 'numeric';
  return date.toLocaleString(locale(), options);
}

// 2 d 03:04:05
function duration(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(s / 86400);
  s -= days * 86400;
  const two = (n) => String(n).padStart(2, '0');
  const clock = two(Math.floor(s / 3600)) + ':' + two(Math.floor((s % 3600) / 60)) + ':' + two(s % 60);
  return days > 0 ? days + ' ' + L().days + ' ' + clock : clock;
}

// ---- labels ----

function applyLabels() {
  const l = L();
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  const text = {
    'campaign-label': l.campaign, 'board-title': l.board, 'total-label': l.votes,
    'suspect-label': l.suspect, 'void-label': l.void, 'valid-label': l.valid, 'seq-label': l.seq,
    'legend-clean': l.clean, 'legend-suspect': l.suspectPart, 'legend-void': l.voidPart,
    'legend-conc': l.conc, 'rate-title': l.rate, 'rate-note': l.rateNote,
    'status-title': l.statuses, 'status-note': l.statusNote, 'fraud-title': l.fraud,
    footer: l.footer, 'disqualified-title': l.disqualified, 'decisions-title': l.decisions,
    'log-title': l.log, 'log-size-label': l.logSize, 'log-root-label': l.logRoot,
    'log-time-label': l.logTime, 'log-id-label': l.logId, 'log-note': l.logNote,
  };
  for (const [id, value] of Object.entries(text)) $(id).textContent = value;
  setLive(state.live);
}

// The stream's state, in words beside its dot: on (streaming), poll (?stream=0), off.
function setLive(how) {
  state.live = how;
  $('live').className = 'live ' + how;
  $('live').dataset.live = how;
  $('live-text').textContent = how === 'on' ? L().live : how === 'poll' ? L().polling : L().offline;
}

// The server answered a read of this campaign: the page is as fresh as that.
function touched() {
  state.updatedMs = Date.now();
  showUpdated();
}

function showUpdated() {
  if (!state.updatedMs) return;
  const age = Math.round((Date.now() - state.updatedMs) / 1000);
  $('updated').textContent = L().updated + ' ' + when(state.updatedMs) +
      (age >= 10 ? ' (' + L().ago(num(age)) + ')' : '');
  $('updated').dataset.updatedMs = state.updatedMs;
  $('updated').classList.toggle('stale', age >= 10);
}

// ---- tokens ----

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

const campaignUrl = (what) =>
  '/v1/campaigns/' + encodeURIComponent(state.campaign.id) + (what ? '/' + what : '');

// ---- campaigns ----

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
  // One campaign: the title says which; the picker would only repeat it.
  select.parentElement.classList.toggle('single', state.campaigns.length < 2);
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

// Definitions change while the page is open (a window closed early by PUT): keep them current.
async function refreshCampaigns() {
  let doc;
  try {
    doc = await getJson('/v1/campaigns');
  } catch (e) {
    return;
  }
  state.campaigns = doc.campaigns || [];
  if (!state.campaign) return;
  const current = state.campaigns.find((c) => c.id === state.campaign.id);
  if (current) state.campaign = current;
  renderState();
}

function selectCampaign(id) {
  state.campaign = state.campaigns.find((c) => c.id === id) || { id, title: id, candidates: [] };
  state.lang = isChinese(state.campaign.title) ? 'zh' : 'en';
  state.lastTally = null;
  state.history = null;
  state.concentration = new Map();
  state.updatedMs = 0;
  state.decisionsRetryMs = 0;
  delete $('state').dataset.state;
  delete $('state').dataset.from;
  applyLabels();
  $('title').textContent = state.campaign.title || id;
  $('campaign').title = state.campaign.title || id;
  document.title = (state.campaign.title || id) + ' — tally';
  renderState();
  const url = new URL(location.href);
  url.searchParams.set('campaign', id);
  history.replaceState(null, '', url);
  startTally();
  refreshSide();
}

// The campaign's state at this second, from its window (opens_at inclusive, closes_at
// exclusive, as the server judges ballots), with the window and a countdown.
function renderState() {
  const c = state.campaign;
  if (!c) return;
  const opens = Date.parse(c.opens_at);
  const closes = Date.parse(c.closes_at);
  const now = Date.now();
  let phase = c.state || '';
  let countdown = '';
  if (!Number.isNaN(opens) && !Number.isNaN(closes)) {
    if (now < opens) {
      phase = 'scheduled';
      countdown = L().opensIn + ' ' + duration(opens - now);
    } else if (now < closes) {
      phase = 'open';
      countdown = L().closesIn + ' ' + duration(closes - now);
    } else {
      phase = 'closed';
      countdown = L().closedAgo(duration(now - closes));
    }
    $('window').textContent = edge(opens) + ' – ' + edge(closes);
  }
  const badge = $('state');
  // data-from: the state before the last change seen while the page was open.
  if (badge.dataset.state && badge.dataset.state !== phase) badge.dataset.from = badge.dataset.state;
  badge.textContent = L().states[phase] || phase;
  badge.className = 'state ' + phase;
  badge.dataset.state = phase;
  $('countdown').textContent = countdown;
}

// ---- the tally ----

function startTally() {
  if (state.source) state.source.close();
  state.source = null;
  clearInterval(state.pollTimer);
  const url = campaignUrl('tally');
  // A first snapshot by plain GET, so the page shows the tally even before the stream opens.
  getJson(url).then(renderTally).catch(() => {});
  if (!window.EventSource || new URLSearchParams(location.search).get('stream') === '0') {
    setLive('poll');
    state.pollTimer = setInterval(() => {
      getJson(url).then(renderTally).catch(() => {});
    }, 1000);
    return;
  }
  if (token()) return streamWithToken(url + '/stream');
  const source = new EventSource(url + '/stream');
  state.source = source;
  source.addEventListener('tally', (event) => renderTally(JSON.parse(event.data)));
  source.onopen = () => setLive('on');
  source.onerror = () => setLive('off');
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
      setLive('on');
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
    setLive('off');
    setTimeout(open, retryMs);
  };
  open();
}

function candidateInfo(id) {
  const list = (state.campaign && state.campaign.candidates) || [];
  return list.find((c) => c.id === id) || {};
}

function candidateName(id) {
  if (!id) return '';
  const tallied = state.lastTally && state.lastTally.candidates.find((c) => c.id === id);
  return (tallied && tallied.name) || candidateInfo(id).name || id;
}

// One candidate's row. Ranked by valid votes when the tally has them (DESIGN.md
// "Adjudication"); the bar shows its votes, with the suspect part hatched and the void part
// grey; beside it, the share of its votes from its ten largest addresses (/fraud).
function candidateRow(c, max, hasValid, anyVoid) {
  const l = L();
  const info = candidateInfo(c.id);
  const votes = c.votes || 0;
  const voided = Math.min(c.void || 0, votes);
  const suspect = Math.min(c.suspect || 0, votes - voided);
  const clean = votes - voided - suspect;
  const valid = hasValid && c.valid !== undefined ? c.valid : votes - voided;
  const share = state.concentration.get(c.id);
  const concText = share === undefined ? '' : pct(share);
  const zh = state.lang === 'zh';
  const detail = [zh ? '得票 ' + num(votes) : num(votes) + ' votes'];
  if (c.suspect > 0) {
    detail.push((zh ? '可疑 ' + num(c.suspect) : num(c.suspect) + ' suspect') +
                ' (' + pct(votes ? c.suspect / votes : 0) + ')');
  }
  if (anyVoid) detail.push(zh ? '作废 ' + num(c.void || 0) : num(c.void || 0) + ' void');
  if (hasValid) detail.push(zh ? '有效 ' + num(valid) : num(valid) + ' valid');
  const out = c.disqualified === true;
  return el('li', {
    class: 'row' + (out ? ' out' : ''), 'data-candidate': c.id, 'data-votes': votes,
    'data-suspect': c.suspect || 0, 'data-valid': valid, 'data-rank': out ? 0 : c.rank,
    'data-concentration': share === undefined ? null : share,
  },
  el('span', { class: 'rank' }, out ? '–' : c.rank),
  el('span', { class: 'name', title: [c.name || c.id, info.unit, info.industry].filter(Boolean).join(' · ') },
     c.name || c.id, info.industry ? el('small', {}, info.industry) : null),
  el('span', { class: 'track' },
     el('span', { class: 'clean', style: 'width:' + (100 * clean / max) + '%' }),
     el('span', { class: 'flagged', style: 'width:' + (100 * suspect / max) + '%' }),
     el('span', { class: 'voided', style: 'width:' + (100 * voided / max) + '%' })),
  el('span', { class: 'conc' + (share >= CONCENTRATION_WARN ? ' warn' : ''), title: l.conc },
     concText ? el('small', {}, l.concShort + ' ') : null, concText),
  el('span', { class: 'count' }, num(hasValid ? valid : votes),
     el('small', {}, hasValid ? l.valid : l.votes)),
  el('span', { class: 'detail' }, detail.join(' · ')));
}

function renderTally(tally) {
  if (!state.campaign || tally.campaign !== state.campaign.id) return;
  state.lastTally = tally;
  touched();
  const hasValid = tally.valid !== undefined;
  $('total').textContent = num(tally.total);
  $('suspect').textContent = num(tally.suspect);
  $('as-of-seq').textContent = num(tally.as_of_seq);
  $('void-box').hidden = tally.void === undefined;
  $('void').textContent = num(tally.void);
  $('valid-box').hidden = !hasValid;
  $('valid').textContent = num(tally.valid);
  const anyVoid = tally.candidates.some((c) => (c.void || 0) > 0);
  $('legend-void').hidden = !anyVoid;
  $('legend-void-swatch').hidden = !anyVoid;
  const max = Math.max(1, ...tally.candidates.map((c) => c.votes));
  const ranked = tally.candidates.filter((c) => c.disqualified !== true);
  const out = tally.candidates.filter((c) => c.disqualified === true);
  const board = $('board');
  board.replaceChildren();
  ranked.forEach((c, index) => {
    // The line falls after the tenth place; candidates tied with the tenth stay above it.
    if (index > 0 && c.rank > TOP_LINE && ranked[index - 1].rank <= TOP_LINE) {
      board.append(el('li', { class: 'cutline' }, L().cut));
    }
    board.append(candidateRow(c, max, hasValid, anyVoid));
  });
  $('disqualified-box').hidden = out.length === 0;
  $('disqualified').replaceChildren(...out.map((c) => candidateRow(c, max, hasValid, anyVoid)));
  renderCheckpoint(tally.checkpoint);
  checkOverflow();
}

// The signed checkpoint the tally was counted at (DESIGN.md "Public verification"): its size
// is the tally's as_of_seq. Hashes are shortened on screen, whole in their title.
function renderCheckpoint(checkpoint) {
  if (!checkpoint) return;
  $('log-size').textContent = num(checkpoint.size);
  $('log-root').textContent = checkpoint.root.slice(0, 16) + '…';
  $('log-root').title = checkpoint.root;
  $('log-id').textContent = checkpoint.log_id.slice(0, 16) + '…';
  $('log-id').title = checkpoint.log_id;
  $('log-time').textContent = when(checkpoint.time_ms);
}

// ---- votes per second, from the server's samples ----

async function refreshHistory() {
  if (!state.campaign) return;
  const id = state.campaign.id;
  try {
    const doc = await getJson(campaignUrl('history'));
    if (!state.campaign || state.campaign.id !== id) return;
    state.history = doc;
    touched();
  } catch (e) {
    state.history = null;
  }
  drawRate();
}

// Votes per second between successive samples, at the later one's time.
function ratePoints() {
  const samples = (state.history && state.history.samples) || [];
  const points = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i];
    if (b.t_ms > a.t_ms) {
      points.push({ t: b.t_ms, rate: Math.max(0, (b.total - a.total) * 1000 / (b.t_ms - a.t_ms)) });
    }
  }
  return points;
}

// 1, 2 or 5 times a power of ten, at least `value`.
function niceCeil(value) {
  if (value <= 1) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
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
  const samples = (state.history && state.history.samples) || [];
  const points = ratePoints();
  canvas.dataset.samples = samples.length;
  if (samples.length > 0) {
    canvas.dataset.oldestMs = samples[0].t_ms;
    canvas.dataset.newestMs = samples[samples.length - 1].t_ms;
  }
  const peak = niceCeil(Math.max(0, ...points.map((p) => p.rate)));
  canvas.dataset.peak = Math.max(0, ...points.map((p) => p.rate));
  g.font = '11px system-ui, sans-serif';
  const left = Math.ceil(g.measureText(num(peak)).width) + 8;
  const top = 8, bottom = height - 18;
  const y = (rate) => bottom - (rate / peak) * (bottom - top);
  g.strokeStyle = '#e3e6eb';
  g.fillStyle = '#6b7482';
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  for (const f of [0, 0.5, 1]) {
    g.beginPath(); g.moveTo(left, y(peak * f)); g.lineTo(width, y(peak * f)); g.stroke();
    g.fillText(num(peak * f), left - 4, y(peak * f));
  }
  $('rate-now').textContent = points.length ? num(Math.round(points[points.length - 1].rate)) : '0';
  if (samples.length === 0) {
    g.textAlign = 'center';
    g.fillText(L().rateEmpty, (left + width) / 2, (top + bottom) / 2);
    return;
  }
  // The time axis ends at the newest sample and reaches back over what the server holds,
  // a minute to an hour.
  const end = samples[samples.length - 1].t_ms;
  const span = Math.min(CHART_MAX_SPAN_MS, Math.max(CHART_MIN_SPAN_MS, end - samples[0].t_ms));
  const start = end - span;
  const x = (t) => left + (width - left) * (t - start) / span;
  const ticks = Math.max(2, Math.floor((width - left) / 70));
  const stepS = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find((t) => span / (t * 1000) <= ticks) || 3600;
  const step = stepS * 1000;
  const zone = new Date(end).getTimezoneOffset() * 60000;  // ticks on local whole minutes
  g.textAlign = 'center';
  g.textBaseline = 'alphabetic';
  for (let t = Math.ceil((start - zone) / step) * step + zone; t <= end; t += step) {
    g.beginPath(); g.moveTo(x(t), bottom); g.lineTo(x(t), bottom + 4); g.stroke();
    const label = new Date(t).toLocaleTimeString(locale(), stepS < 60
      ? { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }
      : { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    const w = g.measureText(label).width / 2;
    g.fillText(label, Math.min(width - w, Math.max(left + w, x(t))), height - 3);
  }
  const shown = points.filter((p) => p.t >= start);
  if (shown.length === 0) return;
  g.beginPath();
  g.moveTo(x(shown[0].t), bottom);
  for (const p of shown) g.lineTo(x(p.t), y(p.rate));
  g.lineTo(x(shown[shown.length - 1].t), bottom);
  g.closePath();
  g.fillStyle = 'rgba(47, 111, 214, 0.15)';
  g.fill();
  g.strokeStyle = '#2f6fd6';
  g.lineWidth = 2;
  g.beginPath();
  shown.forEach((p, i) => (i === 0 ? g.moveTo(x(p.t), y(p.rate)) : g.lineTo(x(p.t), y(p.rate))));
  g.stroke();
}

// ---- answers by status ----

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
  const sum = shown.reduce((s, r) => s + r.count, 0) || 1;
  const body = $('statuses').tBodies[0];
  body.replaceChildren();
  for (const r of shown.sort((a, b) => b.count - a.count)) {
    const label = state.lang === 'zh' ? (STATUS_ZH[r.status] || r.status) : r.status;
    const error = !['accepted', 'duplicate'].includes(r.status);
    body.append(el('tr', { class: error ? 'err' : 'ok', 'data-status': r.status },
      el('td', { title: r.status }, label), el('td', { class: 'n' }, num(r.count)),
      el('td', { class: 'n share' }, pct(r.count / sum)),
      el('td', { class: 'bar' }, el('div', { class: 'sbar', style: 'width:' + (100 * r.count / max) + '%' }))));
  }
  checkOverflow();
}

// ---- fraud signals ----

function list(title, items, format, className) {
  const ul = el('ul', { class: className || null });
  if (!items || items.length === 0) ul.append(el('li', { class: 'muted' }, L().none));
  else for (const item of items.slice(0, 10)) ul.append(format(item));
  return el('div', { class: 'fraud-list' }, el('h3', {}, title), ul);
}

const flagName = (f) => (state.lang === 'zh' ? FLAG_ZH[f] : FLAG_EN[f]) || f;

// An alert as a sentence: when, what crossed which threshold, for whom.
function alertSentence(a) {
  const zh = state.lang === 'zh';
  const name = candidateName(a.candidate);
  const votes = num(a.votes);
  const subnet = (a.key || '').includes('/');
  const source = zh ? (subnet ? '网段 ' : 'IP ') + a.key : (subnet ? 'subnet ' : 'IP ') + a.key;
  switch (a.reason) {
    case 'ip_flood':
      return zh ? `${source} 为「${name}」投出 ${votes} 张相似选票（同一 UA），超过阈值：其窗口内此前与此后的选票均标记为可疑（IP 集中）。`
                : `${votes} look-alike votes (one user agent) for ${name} from ${source}: over the threshold, its votes in the window are flagged, earlier ones too (IP flood).`;
    case 'device_multi_account':
      return zh ? `设备 ${a.key} 被 ${votes} 个不同账号用来投票（「${name}」等），超过阈值：该设备窗口内此前与此后的选票均标记为可疑（一机多号）。`
                : `Device ${a.key} was used by ${votes} different voters (for ${name} among others): over the threshold, its votes in the window are flagged, earlier ones too (one device, many accounts).`;
    case 'burst':
      return zh ? `「${name}」一分钟内得票 ${votes} 张，远超其近期平均：标记为可疑（突增）。`
                : `${name} got ${votes} votes in one minute, far above its recent average: flagged (burst).`;
    default:
      return zh ? `${flagName(a.reason)}：${a.key || ''}「${name}」${votes} 票。`
                : `${flagName(a.reason)}: ${a.key || ''} ${name}, ${votes} votes.`;
  }
}

function sentenceItem(ms, text, attrs) {
  return el('li', attrs, el('time', { datetime: new Date(ms).toISOString() }, when(ms)), ' ',
            el('span', {}, text));
}

async function refreshFraud() {
  const box = $('fraud');
  if (!state.campaign) return;
  let doc;
  try {
    doc = await getJson(campaignUrl('fraud'));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'muted', id: 'fraud-empty' }, L().fraudNA));
    box.dataset.available = 'false';
    return;
  }
  if (doc.campaign !== undefined && doc.campaign !== state.campaign.id) return;
  box.dataset.available = 'true';
  state.concentration = new Map((doc.concentration || []).map((r) => [r.candidate, r.top_ips_share]));
  const total = (state.lastTally && state.lastTally.total) || 0;
  const share = (votes) => (total > 0 ? ' (' + pct(votes / total) + ')' : '');
  const source = (h) => el('li', {}, el('span', { class: 'key' }, h.key), ' ',
                           el('span', { class: 'n' }, '— ' + num(h.votes) + share(h.votes)));
  const flags = Object.entries(doc.flags || {}).map(([k, v]) => ({ key: k, votes: v }));
  const flagItems = flags.map((f) => el('li', { 'data-flag': f.key }, flagName(f.key) + ': ' + num(f.votes)));
  if (doc.rejected) flagItems.push(el('li', {}, L().rejected + ': ' + num(doc.rejected)));
  // Newest first (as /fraud sends them); the older ones folded away.
  const alerts = (doc.alerts || []).map((a) => sentenceItem(a.at_ms, alertSentence(a),
    { class: 'alert', 'data-reason': a.reason }));
  const older = alerts.splice(ALERTS_SHOWN);
  const alertBox = el('div', { class: 'fraud-list alerts' }, el('h3', {}, L().alerts),
    el('ol', { class: 'sentences', id: 'alerts' }, ...(alerts.length ? alerts : [el('li', { class: 'muted' }, L().none)])));
  if (older.length) {
    alertBox.append(el('details', {}, el('summary', {}, L().olderAlerts(num(older.length))),
                       el('ol', { class: 'sentences' }, ...older)));
  }
  box.replaceChildren(
    alertBox,
    el('div', { class: 'fraud-list' }, el('h3', {}, L().flags), el('ul', {}, ...flagItems)),
    list(L().ips, doc.top_ips, source),
    list(L().subnets, doc.top_subnets, source),
    list(L().devices, doc.top_devices, source));
  if (state.lastTally) renderTally(state.lastTally);  // concentration beside the bars
  checkOverflow();
}

// ---- committee decisions ----

function decisionSentence(d) {
  const zh = state.lang === 'zh';
  const who = d.author || (zh ? '委员会' : 'the committee');
  const name = candidateName(d.candidate);
  const votes = num(d.votes);
  const scopeZh = { ip: 'IP', subnet: '网段', device: '设备', seqs: '序号', seq: '序号', candidate: '候选人' };
  // What it names: a cluster of the fraud view (scope and key), or votes by seq (the first few).
  const seqs = (d.sample_seqs || []).map(num).join(zh ? '、' : ', ') +
      ((d.sample_seqs || []).length < d.votes ? '…' : '');
  let what = '';
  const scopeEn = { ip: 'IP', subnet: 'subnet', device: 'device' };
  if (d.key) what = zh ? `（${scopeZh[d.scope] || d.scope || ''} ${d.key}）` : ` (${scopeEn[d.scope] || d.scope || ''} ${d.key})`;
  else if (seqs && d.action !== 'disqualify' && d.action !== 'reinstate') what = zh ? `（序号 ${seqs}）` : ` (seqs ${seqs})`;
  const forWhom = d.candidate ? (zh ? `，候选人「${name}」` : ` for ${name}`) : '';
  const reason = d.reason ? (zh ? '理由：' + d.reason : 'Reason: ' + d.reason) : '';
  let text;
  switch (d.action) {
    case 'void':
      text = zh ? `${who} 作废 ${votes} 张选票${what}${forWhom}。` : `${who} voided ${votes} votes${what}${forWhom}.`;
      break;
    case 'restore':
      text = zh ? `${who} 恢复 ${votes} 张选票${what}${forWhom}。` : `${who} restored ${votes} votes${what}${forWhom}.`;
      break;
    case 'disqualify':
      text = zh ? `${who} 取消「${name}」的资格。` : `${who} disqualified ${name}.`;
      break;
    case 'reinstate':
      text = zh ? `${who} 恢复「${name}」的资格。` : `${who} reinstated ${name}.`;
      break;
    default:
      text = `${who}: ${d.action} ${what}${forWhom} ${votes}`;
  }
  return reason ? text + ' ' + reason : text;
}

async function refreshDecisions() {
  if (!state.campaign || Date.now() < state.decisionsRetryMs) return;
  const card = $('decisions-card');
  let doc;
  try {
    doc = await getJson(campaignUrl('decisions'));
  } catch (e) {
    // Not on this server (404 before decisions existed), or not readable now: asked again
    // once a minute rather than at every refresh.
    state.decisionsRetryMs = Date.now() + DECISIONS_RETRY_MS;
    card.hidden = true;
    card.dataset.available = 'false';
    return;
  }
  card.hidden = false;
  card.dataset.available = 'true';
  const decisions = (doc.decisions || []).slice().reverse();  // newest first
  $('decisions').replaceChildren(...(decisions.length
    ? decisions.map((d) => sentenceItem(d.server_ms, decisionSentence(d),
        { class: 'decision', 'data-action': d.action, 'data-seq': d.seq }))
    : [el('li', { class: 'muted' }, L().noDecisions)]));
  checkOverflow();
}

// ---- layout check ----

// Marks the body when the page is wider than the window (it should never be, at 390 px too),
// naming what sticks out, so that tests and curious operators can see it; and with the page's
// height (a screenshot's window is made that tall).
function checkOverflow() {
  const root = document.documentElement;
  const over = root.scrollWidth > root.clientWidth;
  document.body.dataset.overflow = String(over);
  document.body.dataset.height = root.scrollHeight;
  if (!over) {
    delete document.body.dataset.overflowing;
    return;
  }
  const wide = [];
  for (const node of document.body.querySelectorAll('*')) {
    if (node.getBoundingClientRect().right > root.clientWidth + 0.5) {
      wide.push(node.tagName.toLowerCase() + (node.id ? '#' + node.id : '') +
                (node.className && typeof node.className === 'string' ? '.' + node.className.split(' ')[0] : ''));
    }
  }
  document.body.dataset.overflowing = wide.slice(0, 8).join(' ');
}

function refreshSide() {
  refreshStatuses();
  refreshFraud();
  refreshHistory();
  refreshDecisions();
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
window.addEventListener('resize', () => {
  drawRate();
  checkOverflow();
});
document.body.dataset.loadedMs = Date.now();
setInterval(() => {
  if (document.body.dataset.auth === 'needed') return;
  refreshSide();
  refreshCampaigns();
}, POLL_MS);
setInterval(() => {
  renderState();
  showUpdated();
  checkOverflow();
}, 1000);
loadCampaigns().catch((e) => {
  $('title').textContent = 'tally: ' + e.message;
});
