//! The oversight page: one self-contained HTML document (no external assets). Every value from
//! the case is put into the DOM with `textContent`, never as markup.

/// The page.
pub(crate) const HTML: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>custos oversight</title>
<meta name="referrer" content="no-referrer">
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#111}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;border-bottom:1px solid #ccc;margin-top:1.5em}
table{border-collapse:collapse;font-size:.85em;width:100%}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}.mono{font-family:ui-monospace,monospace;word-break:break-all}
.ok{color:#060;font-weight:bold}.bad{color:#a00;font-weight:bold}.muted{color:#666}
#clock{font-size:1.6em;font-weight:bold}.bar{height:10px;background:#eee;border-radius:5px;overflow:hidden;margin:.4em 0}
.bar>div{height:100%;background:#2a7}.bar.over>div{background:#c33}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;min-width:12em}
.card b{display:block;font-size:1.2em}tr.new{background:#ffd}
button{font-size:1em;padding:.3em 1em}
</style></head><body>
<h1>Case <span id="case-id">…</span> <span class="muted" id="network"></span></h1>
<div class="muted">read-only oversight view · ledger head <span class="mono" id="head">…</span> · <span id="conn">connecting…</span></div>
<h2>24-hour disposal target</h2>
<div id="clock">—</div><div class="bar" id="bar"><div id="barfill" style="width:0"></div></div>
<div id="status" class="muted"></div>
<div class="cards">
<div class="card">seized<b id="seized">—</b></div>
<div class="card">in custody<b id="custody">—</b></div>
<div class="card">disposed<b id="disposed">—</b></div>
</div>
<h2>Timeline</h2>
<table><thead><tr><th>seq</th><th>time (UTC)</th><th>actor</th><th>step</th><th>duration</th><th>since custody</th></tr></thead><tbody id="steps"></tbody></table>
<h2>Signed checkpoints</h2>
<div id="cp-summary" class="muted"></div>
<table><thead><tr><th>seq</th><th>head hash</th><th>time (UTC)</th><th>signatures</th><th>status</th></tr></thead><tbody id="checkpoints"></tbody></table>
<h2>Integrity</h2>
<button id="verify">Verify the ledger in the server</button> <span id="verify-result"></span>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const q = "?token=" + encodeURIComponent(token);
let state = null, seen = new Set();
function $(id){ return document.getElementById(id); }
function text(id, v){ $(id).textContent = v; }
function dur(s){ if(s===null||s===undefined) return ""; const neg=s<0; s=Math.abs(s);
  const h=Math.floor(s/3600), m=Math.floor(s%3600/60), r=s%60;
  const t = h>0 ? h+" h "+String(m).padStart(2,"0")+" min "+String(r).padStart(2,"0")+" s" : (m>0 ? m+" min "+String(r).padStart(2,"0")+" s" : r+" s");
  return (neg?"-":"")+t; }
function sat(v){ return (v===null||v===undefined) ? "—" : v.toLocaleString("en")+" sat"; }
function row(cells, cls){ const tr=document.createElement("tr"); if(cls) tr.className=cls;
  for(const c of cells){ const td=document.createElement("td"); td.textContent=c; tr.appendChild(td); } return tr; }
function render(s){
  state = s;
  text("case-id", s.case_id); text("network", "("+s.network+")");
  text("head", "seq "+s.head_seq+" "+s.head_hash.slice(0,16)+"…");
  const t = s.timeline, b = t.balances;
  text("seized", sat(b.seized_sat)); text("custody", sat(b.in_custody_sat)); text("disposed", sat(b.disposed_sat));
  const body = $("steps"); body.textContent = "";
  for(const st of t.steps){
    const fresh = seen.size>0 && !seen.has(st.seq);
    const tr = row([String(st.seq), st.time, st.actor, st.label, dur(st.since_previous_secs), dur(st.since_custody_secs)], fresh ? "new" : "");
    tr.dataset.kind = st.kind; tr.id = "step-"+st.seq; body.appendChild(tr);
  }
  for(const st of t.steps) seen.add(st.seq);
  const cps = s.checkpoints, cb = $("checkpoints"); cb.textContent = "";
  for(const c of cps.checkpoints){ cb.appendChild(row([String(c.seq), c.head_hash, c.time, c.signatures.join("; "), c.ok ? (c.countersigned ? "countersigned" : "signed") : "FAILED"], c.ok ? "" : "bad")); }
  const after = cps.events_after_last_countersigned.length;
  text("cp-summary", cps.last_countersigned===null ? "No countersigned checkpoint yet ("+after+" events not covered)." :
    "Last countersigned checkpoint at seq "+cps.last_countersigned+"; "+after+" event(s) after it.");
  tick();
}
function tick(){
  if(!state) return;
  const t = state.timeline;
  let el = t.elapsed_secs;
  if(t.custody_at && !t.remitted_at){ el = Math.floor((Date.now() - Date.parse(t.custody_at))/1000); }
  if(el===null||el===undefined){ text("clock", "not started"); text("status", "the clock starts when the sweep into custody confirms"); return; }
  text("clock", dur(el)+" of 24 h");
  const pct = Math.min(100, Math.max(0, el*100/t.target_secs));
  $("barfill").style.width = pct.toFixed(1)+"%";
  $("bar").className = el > t.target_secs ? "bar over" : "bar";
  const status = t.remitted_at ? (el > t.target_secs ? "remitted, over the 24-hour target" : "remitted within the 24-hour target")
    : (el > t.target_secs ? "running, over the 24-hour target" : "running");
  text("status", "custody "+t.custody_at+(t.remitted_at ? " · remittance "+t.remitted_at : "")+" · "+status);
}
setInterval(tick, 1000);
let polling = null;
function poll(){ fetch("/api/state"+q).then(r => r.ok ? r.json() : Promise.reject(r.status)).then(render).catch(()=>{}); }
function connect(){
  const es = new EventSource("/api/events"+q);
  es.addEventListener("state", ev => { text("conn", "live"); if(polling){ clearInterval(polling); polling=null; } render(JSON.parse(ev.data)); });
  es.onerror = () => { text("conn", "reconnecting (polling)"); if(!polling) polling = setInterval(poll, 1000); };
}
$("verify").addEventListener("click", () => {
  text("verify-result", "verifying…");
  fetch("/api/verify"+q).then(r => r.json()).then(v => {
    const el = $("verify-result");
    if(v.ok){ el.className="ok"; el.textContent = "verified: "+v.events+" events, "+v.artifacts+" artifacts, head "+v.head.slice(0,16)+"… at "+v.checked_at; }
    else { el.className="bad"; el.textContent = "FAILED: "+(v.problems && v.problems.length ? v.problems[0].message : (v.error||"unknown")); }
  }).catch(e => { $("verify-result").textContent = "verify failed: "+e; });
});
poll(); connect();
</script></body></html>
"##;
