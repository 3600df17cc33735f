/* The status page (statuspage.h). The three resources are static strings;
 * the script is the only code and it lives in its own resource, so the
 * policy below needs neither 'unsafe-inline' nor a per-response nonce. */
#include "api/statuspage.h"

#include <stddef.h>

/* The Content-Security-Policy, directive by directive:
 *  - default-src 'none': nothing loads unless a directive below allows it
 *    (fonts, media, frames, workers, manifests, objects: none).
 *  - script-src 'self': /status.js only; no inline script, no eval, no
 *    script from another origin. An injected <script> or onerror= would not
 *    run even if some future change put data into markup.
 *  - style-src 'self': /status.css only (no inline style either: a style
 *    attribute or <style> element injected into the page has no effect).
 *  - connect-src 'self': fetch() reaches this coordinator only, so injected
 *    code could not send the state elsewhere.
 *  - img-src 'self': the page has no images; 'self' keeps the browser's
 *    own /favicon.ico request from being reported as a violation.
 *  - base-uri 'none', form-action 'none': no <base> to re-point the
 *    relative URLs, no form to post anywhere.
 *  - frame-ancestors 'none': not framed (clickjacking); X-Frame-Options:
 *    DENY says the same to browsers older than CSP level 2.
 *  - require-trusted-types-for 'script'; trusted-types 'none': browsers
 *    that implement Trusted Types (Chromium) refuse plain strings at the
 *    HTML-parsing sinks (innerHTML, insertAdjacentHTML, document.write ...)
 *    and allow no policy that could make one, so the "DOM calls only" rule
 *    of the script is enforced by the browser, not only by review. Others
 *    ignore the two directives. */
const char statuspage_csp[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
	"require-trusted-types-for 'script'; trusted-types 'none'";

static const char page_html[] =
	"<!doctype html>\n"
	"<html lang=en><head><meta charset=utf-8>\n"
	"<meta name=viewport content=\"width=device-width, initial-scale=1\">\n"
	"<title>quobyte-mesos</title>\n"
	"<link rel=stylesheet href=\"/status.css\">\n"
	"<script src=\"/status.js\" defer></script>\n"
	"</head><body>\n"
	"<h1>quobyte-mesos</h1>\n"
	"<div id=insecure class=banner role=alert hidden>REST API is open: started with "
	"--http-insecure; anyone who reaches it can change the cluster</div>\n"
	"<p id=sum>loading...</p>\n"
	"<p id=rollout></p>\n"
	"<noscript><p class=bad>This page needs JavaScript; the raw state is at /v1/state.</p>"
	"</noscript>\n"
	"<h2>Problems</h2><ul id=prob></ul>\n"
	"<h2>Phases</h2><table id=ph></table>\n"
	"<h2>Nodes</h2><table id=nodes></table>\n"
	"<h2>Devices</h2><table id=devs></table>\n"
	"<h2>Reservations</h2><p class=note>Kept until an operator releases one that is "
	"releasable: DELETE /v1/reservations/AGENT_ID/SERVICE</p><table id=rsv></table>\n"
	"<section id=audit hidden><h2>Audit</h2><p id=audit-msg></p>"
	"<table id=audit-t></table></section>\n"
	"<p class=foot>Raw data: <a href=\"/v1/state\">/v1/state</a> &middot; "
	"<a href=\"/metrics\">/metrics</a></p>\n"
	"</body></html>\n"
;

/* Kept in the style of the code around it: ES5 with fetch(), no framework.
 * The one rule: values from the state reach the DOM through textContent. */
static const char page_js[] =
	"'use strict';\n"
	"/* Renders /v1/state and /v1/audit with DOM calls only: every value from\n"
	" * the coordinator becomes text (textContent), never markup. */\n"
	"var REFRESH_MS = 2000;\n"
	"var AUDIT_ROWS = 20;\n"
	"\n"
	"function $(id) { return document.getElementById(id); }\n"
	"function str(x) { return x === undefined || x === null ? '' : String(x); }\n"
	"function arr(x) { return Array.isArray(x) ? x : []; }\n"
	"function el(tag, text, cls) {\n"
	"  var e = document.createElement(tag);\n"
	"  if (text !== undefined) e.textContent = str(text);\n"
	"  if (cls) e.className = cls;\n"
	"  return e;\n"
	"}\n"
	"function empty(id) { var e = $(id); e.textContent = ''; return e; }\n"
	"/* one table row; a cell is a value or [value, class] ('w': may wrap) */\n"
	"function row(table, cells, tag) {\n"
	"  var r = el('tr');\n"
	"  cells.forEach(function (c) {\n"
	"    var v = Array.isArray(c) ? c : [c, ''];\n"
	"    r.appendChild(el(tag || 'td', v[0], v[1]));\n"
	"  });\n"
	"  table.appendChild(r);\n"
	"}\n"
	"function bytes(n) {\n"
	"  if (typeof n !== 'number' || !isFinite(n)) return '';\n"
	"  var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'], i = 0;\n"
	"  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }\n"
	"  return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];\n"
	"}\n"
	"function when(ms) {\n"
	"  if (typeof ms !== 'number' || !isFinite(ms)) return '';\n"
	"  var d = new Date(ms);\n"
	"  return isNaN(d.getTime()) ? '' : d.toISOString().replace('T', ' ').replace('Z', '');\n"
	"}\n"
	"\n"
	"function summary(s) {\n"
	"  if (s.status === 'standby')\n"
	"    return 'standby coordinator; the leader is ' + str(s.leader_id || 'unknown');\n"
	"  var m = s.mesos || {};\n"
	"  return 'framework ' + str(s.framework_id || '-') + ', master ' + str(m.leader || s.master) +\n"
	"    (m.version ? ' (Mesos ' + str(m.version) + ')' : '') +\n"
	"    (s.subscribed ? ', subscribed' : ', NOT subscribed (' + str(m.phase || '?') + ')') +\n"
	"    ', target version ' + str(s.target_version || 'none') +\n"
	"    ', coordinator ' + str(s.coordinator_version);\n"
	"}\n"
	"\n"
	"function renderState(s) {\n"
	"  var sum = $('sum');\n"
	"  sum.textContent = summary(s);\n"
	"  sum.className = '';\n"
	"  var ro = s.rollout || {};\n"
	"  $('rollout').textContent = s.rollout ? 'rollout: ' +\n"
	"    (ro.paused ? 'PAUSED by the operator' : 'running') +\n"
	"    ', target ' + str(ro.target_version || 'none') +\n"
	"    ', previous ' + str(ro.previous_version || 'none') : '';\n"
	"  $('rollout').className = ro.paused ? 'bad' : '';\n"
	"  $('insecure').hidden = !(s.security && s.security.insecure === true);\n"
	"\n"
	"  var p = empty('prob'), probs = arr(s.problems);\n"
	"  (probs.length ? probs : ['none']).forEach(function (x) { p.appendChild(el('li', x)); });\n"
	"\n"
	"  var ph = empty('ph');\n"
	"  row(ph, ['phase', 'wanted', 'ready', 'at target'], 'th');\n"
	"  arr(s.phases).forEach(function (x) {\n"
	"    row(ph, [x.phase, x.wanted, [x.ready, x.ready < x.wanted ? 'bad' : 'ok'], x.at_target]);\n"
	"  });\n"
	"\n"
	"  var nt = empty('nodes'), dt = empty('devs'), ndev = 0;\n"
	"  row(nt, ['host', 'agent', 'prober', 'devices', 'services', 'maintenance'], 'th');\n"
	"  row(dt, ['host', 'path', 'types', 'state', 'serial', 'model', 'size', 'free', 'note'], 'th');\n"
	"  arr(s.nodes).forEach(function (n) {\n"
	"    var pr = n.prober || {}, devs = arr(n.devices);\n"
	"    var dr = n.drained ? ' [drained' + ((n.drain || {}).state === 'draining' ?\n"
	"      ', stopping services' : '') + ']' : '';\n"
	"    row(nt, [[str(n.hostname) + dr, dr ? 'bad drained' : ''], [n.agent_id, n.active ? '' : 'bad'],\n"
	"      [pr.reporting ? (pr.stale ? 'stale' : 'reporting') : 'not reporting',\n"
	"        pr.reporting && !pr.stale ? 'ok' : 'bad'],\n"
	"      devs.length,\n"
	"      [arr(n.services).map(function (x) {\n"
	"        return str(x.service) + ' ' + str(x.state).replace('TASK_', '') + ' ' + str(x.health);\n"
	"      }).join('; '), 'w'],\n"
	"      [n.maintenance ? str(n.maintenance.state) + ' from ' + when(n.maintenance.start_unix_ms)\n"
	"        : '', n.maintenance ? 'bad w' : 'w']]);\n"
	"    devs.forEach(function (d) {\n"
	"      var note = str(d.conflict || d.error);\n"
	"      ndev++;\n"
	"      row(dt, [n.hostname, [d.root, 'w'], arr(d.types).join(','),\n"
	"        [d.state, d.state === 'ok' ? 'ok' : 'bad'], [d.serial, 'w'], [d.model, 'w'],\n"
	"        bytes(d.size_bytes), bytes(d.free_bytes), [note, note ? 'bad w' : 'w']]);\n"
	"    });\n"
	"  });\n"
	"  if (!ndev) row(dt, ['no devices reported']);\n"
	"  var rt = empty('rsv'), rs = arr(s.reservations);\n"
	"  row(rt, ['host', 'agent', 'service', 'resources', 'since (UTC)', 'state'], 'th');\n"
	"  rs.forEach(function (x) {\n"
	"    var st = x.release_requested ? 'release requested' : x.releasable ? 'releasable' : 'in use';\n"
	"    row(rt, [x.hostname, [x.agent_id, 'w'], x.service,\n"
	"      [str(x.resources) + (x.mount_disks ? ' ' + str(x.mount_disks) : ''), 'w'],\n"
	"      when(x.since_unix_ms), [st, x.releasable ? 'bad' : 'ok']]);\n"
	"  });\n"
	"  if (!rs.length) row(rt, ['no reservations']);\n"
	"}\n"
	"\n"
	"function loadState() {\n"
	"  fetch('/v1/state', { cache: 'no-store' }).then(function (r) {\n"
	"    if (r.status === 401 || r.status === 403)\n"
	"      throw new Error('reading the state needs a token (/v1/state answered ' + r.status + ')');\n"
	"    if (!r.ok) throw new Error('/v1/state answered ' + r.status);\n"
	"    return r.json();\n"
	"  }).then(renderState).catch(function (e) {\n"
	"    var sum = $('sum');\n"
	"    sum.textContent = 'error: ' + str(e && e.message);\n"
	"    sum.className = 'bad';\n"
	"  });\n"
	"}\n"
	"\n"
	"function renderAudit(a) {\n"
	"  var t = empty('audit-t');\n"
	"  var entries = arr(a && a.entries).slice(-AUDIT_ROWS).reverse();\n"
	"  $('audit-msg').textContent = entries.length ?\n"
	"    'the last ' + entries.length + ' entries, newest first' : 'no entries';\n"
	"  if (!entries.length) return;\n"
	"  row(t, ['time (UTC)', 'peer', 'token', 'method', 'path', 'summary', 'status'], 'th');\n"
	"  entries.forEach(function (x) {\n"
	"    row(t, [when(x.time_unix_ms), x.peer, [x.token, 'w'], x.method, [x.path, 'w'],\n"
	"      [x.summary, 'w'],\n"
	"      [x.status, x.status >= 400 ? 'bad' : '']]);\n"
	"  });\n"
	"}\n"
	"\n"
	"function loadAudit() {\n"
	"  fetch('/v1/audit', { cache: 'no-store' }).then(function (r) {\n"
	"    var sec = $('audit');\n"
	"    if (r.status === 404) { sec.hidden = true; return; }\n"
	"    sec.hidden = false;\n"
	"    if (r.status === 401 || r.status === 403) {\n"
	"      empty('audit-t');\n"
	"      $('audit-msg').textContent = 'audit: an admin token is needed';\n"
	"      return;\n"
	"    }\n"
	"    if (!r.ok) throw new Error('/v1/audit answered ' + r.status);\n"
	"    return r.json().then(renderAudit);\n"
	"  }).catch(function (e) {\n"
	"    $('audit').hidden = false;\n"
	"    empty('audit-t');\n"
	"    $('audit-msg').textContent = 'audit: ' + str(e && e.message);\n"
	"  });\n"
	"}\n"
	"\n"
	"function load() { loadState(); loadAudit(); }\n"
	"load();\n"
	"setInterval(load, REFRESH_MS);\n"
;

static const char page_css[] =
	"body { font: 14px/1.35 sans-serif; margin: 1em 1.5em; color: #222; }\n"
	"h1 { font-size: 1.4em; margin: 0 0 .3em; }\n"
	"h2 { font-size: 1.1em; margin: 1.2em 0 .3em; }\n"
	"table { border-collapse: collapse; }\n"
	"td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top;\n"
	"  white-space: nowrap; }\n"
	"td.w { white-space: normal; overflow-wrap: anywhere; min-width: 8em; }\n"
	"th { background: #f2f2f2; }\n"
	"ul { margin: .2em 0; }\n"
	".bad { color: #b00; }\n"
	".ok { color: #070; }\n"
	".banner { background: #c00; color: #fff; font-weight: bold; padding: .6em 1em;\n"
	"  margin: .5em 0; }\n"
	".foot { color: #666; margin-top: 2em; }\n"
	".note { color: #666; margin: .2em 0; }\n"
	"[hidden] { display: none !important; }\n"
;

/* Answer with one of the static resources and the security headers.
 * http_response_header() can only fail on a bad name or value or when the
 * headers overflow 4 KiB, none of which a static set can do at run time;
 * should it ever happen, the page is not served without them. */
static void serve(struct http_response *resp, const char *ctype, const char *body, size_t len)
{
	static const struct {
		const char *name;
		const char *value;
	} headers[] = {
		{ "Content-Security-Policy", statuspage_csp },
		{ "X-Frame-Options", "DENY" },
		{ "X-Content-Type-Options", "nosniff" },
		{ "Referrer-Policy", "no-referrer" },
	};
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
		if (http_response_header(resp, headers[i].name, headers[i].value) != 0) {
			http_respond_error(resp, 500, "status page headers could not be set");
			return;
		}
	http_respond(resp, 200, ctype, body, len);
}

void statuspage_html(const struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	serve(resp, "text/html; charset=utf-8", page_html, sizeof page_html - 1);
}

void statuspage_js(const struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	serve(resp, "text/javascript; charset=utf-8", page_js, sizeof page_js - 1);
}

void statuspage_css(const struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	serve(resp, "text/css; charset=utf-8", page_css, sizeof page_css - 1);
}
