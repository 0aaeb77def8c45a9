"""The report page's stylesheet (``fleetpatch.report_html`` inlines it: no external files).

Light colours that print; the outcome colours of the chart and the badges are
``fleetpatch.report_chart.OUTCOME_COLOURS``.
"""

STYLESHEET = """
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0;
  --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "Liberation Sans", "DejaVu Sans", sans-serif; }
.page { max-width: 1400px; margin: 0 auto; padding: 20px 24px 40px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono",
  "DejaVu Sans Mono", monospace; font-size: 12.5px; }
header.top { border-bottom: 1px solid var(--line); padding-bottom: 14px; }
.kicker { text-transform: uppercase; letter-spacing: .06em; font-size: 12px; font-weight: 600;
  color: var(--muted); }
h1 { font-size: 26px; line-height: 1.25; margin: 4px 0 8px; overflow-wrap: anywhere; }
h1 .badge { vertical-align: 4px; margin-left: 10px; }
.badge { display: inline-block; font-size: 13px; font-weight: 700; line-height: 1.2;
  padding: 4px 12px; border-radius: 999px; border: 1px solid; text-transform: uppercase;
  letter-spacing: .04em; white-space: nowrap; }
.badge-green { background: #dafbe1; color: #0f5323; border-color: #4ac26b; }
.badge-red { background: #ffebe9; color: #82071e; border-color: #ff8182; }
.badge-amber { background: #fff8c5; color: #6c4400; border-color: #d4a72c; }
.summary { font-size: 16px; margin: 0 0 12px; max-width: 70em; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr));
  gap: 6px 24px; margin: 0; }
dl.facts dt { font-size: 11px; text-transform: uppercase; letter-spacing: .05em;
  color: var(--muted); }
dl.facts dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
dl.facts .wide { grid-column: span 2; }
h2 { font-size: 18px; margin: 22px 0 10px; }
h3 { font-size: 16px; margin: 0 0 6px; overflow-wrap: anywhere; }
.chart-figure { margin: 0; }
.chart svg { display: block; width: 100%; height: auto; }
.chart text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "Liberation Sans", "DejaVu Sans", sans-serif; font-size: 13px; fill: #1f2328; }
.chart text.name { font-weight: 700; font-size: 14px; }
.chart text.note, .chart text.sum { fill: #404850; }
.chart tspan.note.held { fill: #b42318; font-weight: 700; }
.chart text.seg { font-weight: 700; fill: #000; }
.chart .compact { display: none; }
.compact .crow { margin: 0 0 12px; }
.compact .cname { font-size: 15px; overflow-wrap: anywhere; }
.compact .note { color: var(--muted); margin-left: 6px; }
.compact .note.held { color: #b42318; font-weight: 700; }
.compact .cbar { display: flex; height: 24px; margin: 4px 0; border: 1px solid var(--line);
  background: var(--panel); }
.compact .cseg { display: block; min-width: 4px; flex-basis: 0; }
.compact .csum { font-size: 13px; }
.compact .ccount { white-space: nowrap; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 6px 14px;
  background: var(--panel); }
.tile .n { display: block; font-size: 22px; font-weight: 700; line-height: 1.2; }
.tile .l { display: block; font-size: 12px; text-transform: uppercase; letter-spacing: .05em;
  color: var(--muted); }
.tile.bad .n { color: #b42318; }
section.batch { border-top: 3px solid var(--line); margin: 18px 0 0; padding: 10px 0 0; }
section.batch.held { border-top-color: #ff8182; }
section.churn { border-left: 4px solid #ff8182; padding: 0 0 0 12px; }
section.churn pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0 8px; }
.pill { display: inline-block; font-size: 12px; font-weight: 700; padding: 1px 9px;
  border-radius: 999px; margin-left: 6px; vertical-align: 2px; white-space: nowrap; }
.status-ran { background: #ddf4ff; color: #0a3069; }
.status-held { background: #ffebe9; color: #82071e; }
.status-not-reached { background: #eaeef2; color: #424a53; }
.meta { color: var(--muted); margin: 0 0 8px; }
.gate { border-left: 4px solid var(--line); background: var(--panel); padding: 6px 12px;
  margin: 8px 0 12px; }
.gate.passed { border-left-color: #1a7f37; }
.gate.failed { border-left-color: #cf222e; }
.gate ul { margin: 4px 0; padding-left: 20px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; min-width: 1100px; table-layout: fixed;
  font-size: 12px; }
th, td { padding: 4px 5px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
th { position: sticky; top: 0; background: #eef1f4; font-size: 11px; line-height: 1.2;
  vertical-align: bottom; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { overflow-wrap: normal; }
th.num { white-space: normal; }
td.id code { font-size: 12px; }
td .who { color: var(--muted); font-size: 11.5px; margin-top: 1px; }
tr.has-details td { border-bottom: 0; }
tr.details td { padding-top: 0; color: var(--muted); }
tr.details code { font-size: 11px; }
tr.bad td { background: #fff4f2; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; }
.outcome { white-space: nowrap; }
.muted { color: var(--muted); }
footer { margin-top: 28px; padding-top: 10px; border-top: 1px solid var(--line);
  color: var(--muted); font-size: 12px; }
a { color: #0969da; }
@media print { th { position: static; } section.batch { break-inside: avoid-page; } }
/* A phone (the on-call operator opens the Slack link): one instance per card, each value
   beside its column's name; the chart drawn again in HTML at the screen's width, its
   labels and counts as text (the SVG would scale them down to a few pixels). */
@media (max-width: 720px) {
  .page { padding: 12px 12px 28px; }
  h1 { font-size: 21px; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts .wide { grid-column: auto; }
  .tiles { grid-template-columns: repeat(2, 1fr); }
  .chart svg { display: none; }
  .chart .compact { display: block; }
  table.instances { min-width: 0; table-layout: auto; }
  table.instances colgroup, table.instances thead { display: none; }
  table.instances, table.instances tbody, table.instances tr, table.instances td {
    display: block; width: 100%; }
  table.instances tr { border: 1px solid var(--line); border-radius: 8px; margin: 0 0 10px;
    padding: 4px 8px; }
  table.instances td { border: 0; padding: 2px 0; text-align: left; white-space: normal; }
  table.instances td { display: grid; grid-template-columns: 8.5em minmax(0, 1fr);
    column-gap: 8px; }
  table.instances td::before { content: attr(data-label); color: var(--muted);
    font-size: 11px; line-height: 1.3; padding-top: 2px; text-transform: uppercase;
    letter-spacing: .04em; }
  table.instances td > * { grid-column: 2; }
  table.instances td:empty { display: none; }
  table.instances td.num { text-align: left; }
  /* the details row (the output) closes its instance's card */
  table.instances tr.has-details { margin-bottom: 0; border-bottom: 0;
    border-radius: 8px 8px 0 0; }
  table.instances tr.details { border-top: 0; border-radius: 0 0 8px 8px; padding-top: 0; }
  table.instances tr.details td { display: block; }
  table.instances tr.details td::before { content: none; }
  table.instances td.id .who { font-size: 12px; }
}
"""
