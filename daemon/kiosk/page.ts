// The virtual kiosk's single page: inline CSS and script, no external resource, no build step.
// Every piece of live data arrives over /events and is written with textContent (never as HTML).

export interface PageModel {
  readonly locale: 'en' | 'sv';
  readonly display: { readonly width: number; readonly height: number; readonly rotation: number };
  readonly products: readonly { slot: number; name: string; price: string }[];
  /** False when SEQR is external: the app panel is disabled. */
  readonly simulator: boolean;
  /** UPS mode: the app panel can scan the machine's static code (pay first, then choose). */
  readonly ups?: boolean;
}

const TEXT = {
  en: {
    title: 'seqr-vend virtual kiosk',
    display: 'Display',
    buttons: 'Machine buttons',
    cancel: 'Cancel',
    app: 'Pay with the SEQR app',
    appHint: 'Acts as the customer’s phone on the invoice shown on the display.',
    appExternal: 'SEQR is an external endpoint: use a real SEQR app.',
    noInvoice: 'No invoice on the display.',
    invoice: 'Invoice',
    pay: 'Pay',
    scanUps: 'Scan the machine’s code',
    scanUpsHint:
      'Pay first, then choose: scan the code on the display (reserves up to 100.00), confirm with Pay, then choose with the machine’s buttons; CANCEL when done.',
    cancelInApp: 'Cancel in the app',
    fail: 'Let it fail',
    payLate: 'Pay too late',
    payLateHint:
      'Pay too late: the customer is still typing the PIN and confirms just as the machine gives up (cancel button or timeout); with no open invoice, pays the last one, which SEQR refuses.',
    relays: 'Dispense relays',
    drop: 'Drop sensor',
    dropNext: 'Next dispense',
    delivered: 'delivered',
    notDelivered: 'not delivered',
    dropDelivered: 'Next: product drops',
    dropNotDelivered: 'Next: nothing drops',
    lastDrop: 'Last dispense',
    receipts: 'Printed receipts',
    noReceipts: 'No receipt printed yet.',
    journal: 'Journal',
    off: 'off',
    on: 'ON',
    connecting: 'connecting…',
    connected: 'live',
    disconnected: 'disconnected, retrying…',
  },
  sv: {
    title: 'seqr-vend virtuell kiosk',
    display: 'Skärm',
    buttons: 'Maskinens knappar',
    cancel: 'Avbryt',
    app: 'Betala med SEQR-appen',
    appHint: 'Agerar som kundens telefon för fakturan som visas på skärmen.',
    appExternal: 'SEQR är en extern tjänst: använd en riktig SEQR-app.',
    noInvoice: 'Ingen faktura på skärmen.',
    invoice: 'Faktura',
    pay: 'Betala',
    scanUps: 'Skanna maskinens kod',
    scanUpsHint:
      'Betala först, välj sedan: skanna koden på skärmen (reserverar upp till 100,00), godkänn med Betala och välj sedan med maskinens knappar; AVBRYT när du är klar.',
    cancelInApp: 'Avbryt i appen',
    fail: 'Låt det misslyckas',
    payLate: 'Betala för sent',
    payLateHint:
      'Betala för sent: kunden skriver fortfarande PIN-koden och bekräftar precis när maskinen ger upp (avbryt eller tidsgräns); utan öppen faktura betalas den senaste, vilket SEQR nekar.',
    relays: 'Utmatningsreläer',
    drop: 'Fallsensor',
    dropNext: 'Nästa utmatning',
    delivered: 'levererad',
    notDelivered: 'inte levererad',
    dropDelivered: 'Nästa: varan faller',
    dropNotDelivered: 'Nästa: inget faller',
    lastDrop: 'Senaste utmatning',
    receipts: 'Utskrivna kvitton',
    noReceipts: 'Inget kvitto utskrivet än.',
    journal: 'Journal',
    off: 'av',
    on: 'PÅ',
    connecting: 'ansluter…',
    connected: 'live',
    disconnected: 'frånkopplad, försöker igen…',
  },
} as const;

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

/** JSON that is safe inside a `<script>` element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll('<', '\\u003c')
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/20px system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;background:#eef0f3;color:#1a1a1a}
header{display:flex;align-items:center;gap:12px;padding:10px 18px;background:#0b3d91;color:#fff}
header h1{font-size:17px;margin:0;font-weight:600}
#conn{margin-left:auto;font-size:12px;padding:2px 8px;border-radius:10px;background:#ffffff33}
main{display:grid;grid-template-columns:minmax(0,auto) minmax(320px,1fr);gap:16px;padding:16px;align-items:start}
section{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 3px #0002}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:#555;margin:0 0 8px}
.col{display:flex;flex-direction:column;gap:16px;min-width:0}
.bezel{display:inline-block;padding:14px;background:#222;border-radius:10px}
#display{display:block;image-rendering:pixelated;image-rendering:crisp-edges;background:#000}
.buttons{display:flex;flex-wrap:wrap;gap:8px}
.buttons button{font:inherit;border:0;border-radius:8px;padding:10px 14px;cursor:pointer;text-align:left;min-width:120px;background:#dfe6f3;color:#0b2a66;box-shadow:0 2px 0 #9fb0d0}
.buttons button:active{transform:translateY(2px);box-shadow:none}
.buttons .slot{display:inline-block;min-width:1.6em;height:1.6em;border-radius:50%;background:#0b3d91;color:#fff;text-align:center;margin-right:6px;font-weight:700}
.buttons .price{display:block;font-size:12px;color:#444;margin-top:2px}
#cancel{background:#f5d6d6;color:#7a1010;box-shadow:0 2px 0 #d09a9a;font-weight:600}
.phone button{font:inherit;border:0;border-radius:6px;padding:8px 12px;margin:0 6px 6px 0;cursor:pointer;background:#e9eef6}
.phone button:disabled{opacity:.45;cursor:default}
#app-pay{background:#146e32;color:#fff}
.hint{font-size:12px;color:#666;margin:6px 0 0}
#app-status{font-size:12px;min-height:1.4em;margin-top:4px}
#app-status.err{color:#a4161a}
.relays{display:flex;flex-wrap:wrap;gap:10px}
.relay{display:flex;align-items:center;gap:6px;padding:4px 8px;border:1px solid #ddd;border-radius:6px}
.led{width:14px;height:14px;border-radius:50%;background:#bbb;box-shadow:inset 0 0 2px #0006}
.relay.on .led{background:#2ecc40;box-shadow:0 0 8px #2ecc40}
.relay.on{border-color:#2ecc40}
#relay-log,#journal{font:12px/1.35 ui-monospace,"DejaVu Sans Mono",monospace;margin:8px 0 0;padding:0;list-style:none;max-height:110px;overflow:auto}
.drop-row{display:flex;align-items:center;gap:10px;flex-wrap:wrap}
.drop-row button{font:inherit;border:1px solid #bbb;border-radius:6px;padding:5px 10px;background:#fff;cursor:pointer}
.drop-row button.sel{background:#0b3d91;color:#fff;border-color:#0b3d91}
#drop-next.bad{color:#a4161a;font-weight:600}
#receipts{display:flex;gap:12px;overflow-x:auto;padding-bottom:4px}
.paper{flex:none;background:#fffef8;padding:12px 10px 18px;box-shadow:0 1px 4px #0003;
 clip-path:polygon(0 0,100% 0,100% calc(100% - 6px),95% 100%,90% calc(100% - 6px),85% 100%,80% calc(100% - 6px),75% 100%,70% calc(100% - 6px),65% 100%,60% calc(100% - 6px),55% 100%,50% calc(100% - 6px),45% 100%,40% calc(100% - 6px),35% 100%,30% calc(100% - 6px),25% 100%,20% calc(100% - 6px),15% 100%,10% calc(100% - 6px),5% 100%,0 calc(100% - 6px))}
.paper pre{margin:0;width:32ch;font:12px/1.3 ui-monospace,"DejaVu Sans Mono",monospace;white-space:pre}
.wide{grid-column:1/-1}
#journal{max-height:300px;background:#111;color:#ddd;padding:6px 8px;border-radius:6px}
#journal li{white-space:pre-wrap;overflow-wrap:anywhere}
#journal .l40{color:#ffb84d}#journal .l50,#journal .l60{color:#ff6b6b}#journal .l20,#journal .l10{color:#888}
`;

const SCRIPT = `
'use strict';
var M = JSON.parse(document.getElementById('model').textContent);
var T = M.text;
var $ = function (id) { return document.getElementById(id); };
var img = $('display');
var shownRef = null;
var lastRef = null;

function post(path, body) {
  return fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    .then(function (res) {
      if (res.status === 204) return { ok: true, body: null };
      return res.json().then(function (b) { return { ok: res.ok, body: b }; }, function () { return { ok: res.ok, body: null }; });
    });
}

document.querySelectorAll('button[data-slot]').forEach(function (b) {
  b.addEventListener('click', function () { post('/api/press', { button: { kind: 'product', slot: Number(b.dataset.slot) } }); });
});
$('cancel').addEventListener('click', function () { post('/api/press', { button: { kind: 'cancel' } }); });

function appStatus(text, err) { var s = $('app-status'); s.textContent = text; s.className = err ? 'err' : ''; }
document.querySelectorAll('button[data-action]').forEach(function (b) {
  b.addEventListener('click', function () {
    post('/api/customer', { action: b.dataset.action }).then(function (r) {
      if (r.ok) appStatus(b.textContent + ': ' + T.invoice + ' ' + r.body.invoiceReference, false);
      else appStatus((r.body && r.body.error) || 'error', true);
    }, function (e) { appStatus(String(e), true); });
  });
});
document.querySelectorAll('button[data-drop]').forEach(function (b) {
  b.addEventListener('click', function () {
    post('/api/drop', { next: b.dataset.drop }).then(function (r) {
      if (!r.ok) appStatus((r.body && r.body.error) || 'error', true);
    });
  });
});

function setInvoice(ref) {
  shownRef = ref;
  if (ref) lastRef = ref;
  $('app-invoice').textContent = ref ? T.invoice + ' ' + ref : (lastRef ? T.noInvoice + ' (' + T.invoice + ' ' + lastRef + ')' : T.noInvoice);
  var disabled = !M.simulator;
  document.querySelectorAll('button[data-action]').forEach(function (b) {
    b.disabled = disabled || (!ref && b.dataset.action !== 'payLate');
  });
}

function time(at) {
  var d = new Date(at);
  var p = function (n, w) { return String(n).padStart(w || 2, '0'); };
  return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3);
}

function limit(list, max) { while (list.children.length > max) list.removeChild(list.firstChild); }

var LEVELS = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
var SKIP = { level: 1, time: 1, msg: 1, pid: 1, hostname: 1 };
function journal(line) {
  var li = document.createElement('li');
  var text = line;
  try {
    var o = JSON.parse(line.replace(/^<\\d>/, ''));
    var extra = Object.keys(o).filter(function (k) { return !SKIP[k]; }).map(function (k) {
      var v = o[k]; return k + '=' + (typeof v === 'string' ? v : JSON.stringify(v));
    });
    text = (o.time ? time(o.time) + ' ' : '') + (LEVELS[o.level] || o.level) + ' ' + o.msg + (extra.length ? '  ' + extra.join(' ') : '');
    li.className = 'l' + o.level;
  } catch (e) { /* not JSON: shown as is */ }
  li.textContent = text;
  var j = $('journal');
  var atEnd = j.scrollTop + j.clientHeight >= j.scrollHeight - 4;
  j.appendChild(li);
  limit(j, 300);
  if (atEnd) j.scrollTop = j.scrollHeight;
}

var es;
function connect() {
  es = new EventSource('/events');
  es.onopen = function () {
    $('conn').textContent = T.connected;
    $('journal').textContent = ''; $('relay-log').textContent = ''; $('receipts').textContent = '';
    $('receipts').appendChild(Object.assign(document.createElement('p'), { id: 'no-receipts', className: 'hint', textContent: T.noReceipts }));
  };
  es.onerror = function () { $('conn').textContent = T.disconnected; };
  es.addEventListener('frame', function (ev) {
    var f = JSON.parse(ev.data);
    var next = new Image();
    next.onload = function () {
      img.src = next.src;
      img.dataset.seq = String(f.seq);
      img.dataset.screen = f.screen;
      setInvoice(f.invoiceReference || null);
    };
    next.src = 'data:image/png;base64,' + f.png;
  });
  es.addEventListener('relay', function (ev) {
    var e = JSON.parse(ev.data);
    var el = $('relay-' + e.slot);
    if (el) { el.classList.toggle('on', e.energised); el.dataset.energised = String(e.energised); el.querySelector('.state').textContent = e.energised ? T.on : T.off; }
    if (!e.replay) {
      var li = document.createElement('li');
      li.textContent = time(e.at) + '  slot ' + e.slot + '  relay ' + (e.energised ? T.on : T.off);
      $('relay-log').appendChild(li); limit($('relay-log'), 50);
      $('relay-log').scrollTop = $('relay-log').scrollHeight;
    }
  });
  es.addEventListener('drop', function (ev) {
    var d = JSON.parse(ev.data);
    var n = $('drop-next');
    n.textContent = d.next === 'delivered' ? T.delivered : T.notDelivered;
    n.className = d.next === 'delivered' ? '' : 'bad';
    n.dataset.next = d.next;
    document.querySelectorAll('button[data-drop]').forEach(function (b) { b.classList.toggle('sel', b.dataset.drop === d.next); });
    $('drop-last').textContent = d.last ? time(d.last.at) + '  slot ' + d.last.slot + ': ' + (d.last.outcome === 'delivered' ? T.delivered : T.notDelivered) : '–';
  });
  es.addEventListener('receipt', function (ev) {
    var r = JSON.parse(ev.data);
    var none = $('no-receipts'); if (none) none.remove();
    var paper = document.createElement('div');
    paper.className = 'paper';
    paper.dataset.invoice = r.invoiceReference;
    paper.dataset.ers = r.ersReference;
    var pre = document.createElement('pre');
    pre.textContent = r.text;
    paper.appendChild(pre);
    $('receipts').insertBefore(paper, $('receipts').firstChild);
    while ($('receipts').children.length > 10) $('receipts').removeChild($('receipts').lastChild);
  });
  es.addEventListener('log', function (ev) { journal(JSON.parse(ev.data).line); });
  es.addEventListener('app', function (ev) { var a = JSON.parse(ev.data); appStatus(a.message, !a.ok); });
}
setInvoice(null);
connect();
`;

/** The whole page, with the products, locale and display size baked in. */
export function kioskPage(model: PageModel): string {
  const t = TEXT[model.locale];
  const { width, height } = model.display;
  const products = model.products
    .map(
      (p) =>
        `<button type="button" data-slot="${p.slot}"><span class="slot">${p.slot}</span>` +
        `${escapeHtml(p.name)}<span class="price">${escapeHtml(p.price)}</span></button>`,
    )
    .join('');
  const relays = model.products
    .map(
      (p) =>
        `<div class="relay" id="relay-${p.slot}" data-energised="false"><span class="led"></span>` +
        `<span>${p.slot} ${escapeHtml(p.name)}</span> <b class="state">${t.off}</b></div>`,
    )
    .join('');
  const action = (name: string, label: string): string =>
    `<button type="button" id="app-${name}" data-action="${name}">${escapeHtml(label)}</button>`;
  return `<!doctype html>
<html lang="${model.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(t.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(t.title)}</h1><span>${width} × ${height}${model.display.rotation ? ` · ${model.display.rotation}°` : ''}</span><span id="conn">${escapeHtml(t.connecting)}</span></header>
<main>
<div class="col">
<section><h2>${escapeHtml(t.display)}</h2>
<div class="bezel"><img id="display" alt="${escapeHtml(t.display)}" width="${width}" height="${height}" data-seq="0" data-screen=""></div>
</section>
<section><h2>${escapeHtml(t.buttons)}</h2>
<div class="buttons">${products}<button type="button" id="cancel">✕ ${escapeHtml(t.cancel)}</button></div>
</section>
<section><h2>${escapeHtml(t.receipts)}</h2><div id="receipts"></div></section>
</div>
<div class="col">
<section class="phone"><h2>${escapeHtml(t.app)}</h2>
<div id="app-invoice"></div>
<div style="margin-top:8px">${model.ups ? action('scanUps', t.scanUps) : ''}${action('pay', t.pay)}${action('cancelInApp', t.cancelInApp)}${action('fail', t.fail)}${action('payLate', t.payLate)}</div>
<p class="hint">${escapeHtml(model.simulator ? t.appHint : t.appExternal)}</p>
${model.ups ? `<p class="hint">${escapeHtml(t.scanUpsHint)}</p>` : ''}
<p class="hint">${escapeHtml(t.payLateHint)}</p>
<div id="app-status"></div>
</section>
<section><h2>${escapeHtml(t.relays)}</h2><div class="relays">${relays}</div><ul id="relay-log"></ul></section>
<section><h2>${escapeHtml(t.drop)}</h2>
<div class="drop-row">${escapeHtml(t.dropNext)}: <b id="drop-next" data-next="delivered">${escapeHtml(t.delivered)}</b>
<button type="button" id="drop-delivered" data-drop="delivered" class="sel">${escapeHtml(t.dropDelivered)}</button>
<button type="button" id="drop-not-delivered" data-drop="notDelivered">${escapeHtml(t.dropNotDelivered)}</button></div>
<p class="hint">${escapeHtml(t.lastDrop)}: <span id="drop-last">–</span></p>
</section>
</div>
<section class="wide"><h2>${escapeHtml(t.journal)}</h2><ul id="journal"></ul></section>
</main>
<script type="application/json" id="model">${scriptJson({ simulator: model.simulator, text: t })}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
