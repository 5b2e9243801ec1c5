// The web app's stylesheet and its one small script, served from the service itself (/static/...): the
// pages load nothing from anywhere else, and the Content-Security-Policy allows nothing else.

export const APP_CSS = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #4a5360; --line: #c9ced6; --accent: #0b5cad;
  --bg: #ffffff; --band: #fde2e2; --band-fg: #7a1010; --ok: #17692c; --bad: #a11616; --wait: #6b4e00; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--fg); background: var(--bg); }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5rem 1rem; }
.skip:focus { left: 1rem; z-index: 10; }
header.top { display: flex; gap: 1.5rem; align-items: baseline; flex-wrap: wrap; padding: .6rem 1.5rem;
  border-bottom: 1px solid var(--line); }
header.top a.home { font-weight: 700; font-size: 1.15rem; color: var(--fg); text-decoration: none; }
.notice { background: var(--band); color: var(--band-fg); padding: .35rem 1.5rem; font-weight: 600; }
main { max-width: 76rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin: .6rem 0 1rem; }
h2 { font-size: 1.25rem; margin: 1.8rem 0 .6rem; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, summary:focus-visible {
  outline: 3px solid #f5a300; outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f2f4f7; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { font-weight: 600; }
.state-done { color: var(--ok); } .state-failed { color: var(--bad); }
.state-received, .state-predicting { color: var(--wait); }
.uid { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .85rem; word-break: break-all; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1.2rem; margin: 0; }
dl.facts dt { font-weight: 600; color: var(--muted); }
dl.facts dd { margin: 0; }
.category { font-size: 1.5rem; font-weight: 700; }
form.upload { border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.2rem; max-width: 44rem; }
form.upload p { margin: .4rem 0 .8rem; }
label { font-weight: 600; display: block; margin-bottom: .2rem; }
input[type=file] { margin-bottom: .8rem; }
button { font: inherit; padding: .45rem 1.2rem; border-radius: 4px; border: 1px solid var(--accent);
  background: var(--accent); color: #fff; cursor: pointer; }
.alert { border-left: 5px solid var(--bad); background: #fff2f2; padding: .6rem 1rem; margin: 1rem 0; }
.info { border-left: 5px solid var(--accent); background: #f0f6fd; padding: .6rem 1rem; margin: 1rem 0; }
ul.links { display: flex; gap: 1.5rem; flex-wrap: wrap; padding: 0; list-style: none; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .9rem; }
.muted { color: var(--muted); }
`;

/**
 * The study page reloads itself while its job is waiting or running; the worklist says (politely, for
 * screen readers too) when the list has changed, and reloads only when no upload is being prepared.
 */
export const APP_JS = `
(() => {
  const body = document.body;
  const url = body.dataset.poll;
  if (!url) return;
  const status = document.getElementById("live-status");
  const busy = () => [...document.querySelectorAll("input[type=file]")].some((i) => i.files && i.files.length > 0);
  const signature = (j) => j.studies ? j.studies.map((s) => s.job.id + ":" + s.job.state).join(",") : j.job.state;
  setInterval(async () => {
    try {
      const r = await fetch(url, { headers: { accept: "application/json" }, credentials: "same-origin" });
      if (!r.ok) return;
      const sig = signature(await r.json());
      if (sig === body.dataset.signature) return;
      // Reloaded without the query (the "received" note belongs to the upload's own answer).
      if (!busy()) location.replace(location.pathname);
      else if (status) status.textContent = "The worklist has changed: reload the page to see it.";
    } catch {}
  }, 3000);
})();
`;
