/** The tab icon: a rising line on the header's colour. Inline in the page; also served as `/favicon.ico` for clients that ask. */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2733"/><path d="M3 12l3-5 3 2 4-5" stroke="#29a35a" stroke-width="2" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>';

/** The dashboard page: layout and style; its script is `/assets/client.js`. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Capstan dashboard</title>
<link rel="icon" type="image/svg+xml" href="data:image/svg+xml,${encodeURIComponent(FAVICON_SVG)}">
<style>
  :root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2733; }
  body { margin: 0; background: #f4f6f8; }
  header { display: flex; flex-wrap: wrap; align-items: center; gap: 16px; padding: 10px 18px; background: #1d2733; color: #fff; }
  header h1 { font-size: 18px; margin: 0 12px 0 0; font-weight: 600; }
  header label { font-size: 13px; opacity: .9; }
  header select { margin-left: 6px; font-size: 13px; }
  .status { padding: 2px 10px; border-radius: 10px; font-size: 12px; font-weight: 600; }
  .status.ok { background: #29a35a; } .status.warn { background: #f3a712; color: #1d2733; } .status.bad { background: #c0392b; }
  #updated { font-size: 12px; opacity: .7; margin-left: auto; }
  main { padding: 14px 18px; }
  #charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 12px; }
  .chart { background: #fff; border: 1px solid #dde2e7; border-radius: 6px; padding: 8px 10px; }
  .chart h2 { font-size: 13px; margin: 0 0 6px; font-weight: 600; }
  .chart canvas { width: 100%; height: 180px; display: block; }
  .legend { font-size: 11px; display: flex; flex-wrap: wrap; gap: 4px 12px; margin-top: 4px; color: #3b4756; }
  .legend i { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; }
  h3 { font-size: 14px; margin: 18px 0 6px; }
  table { border-collapse: collapse; background: #fff; font-size: 12px; width: 100%; border: 1px solid #dde2e7; }
  th, td { padding: 4px 8px; text-align: right; border-bottom: 1px solid #eef1f4; white-space: nowrap; }
  th:first-child, td:first-child, #listeners th:last-child, #listeners td:last-child { text-align: left; }
  #websockets td:nth-child(n+11) { text-align: left; }
  th { background: #f0f3f6; font-weight: 600; }
</style>
</head>
<body>
<header>
  <h1>Capstan</h1>
  <span id="status" class="status warn">connecting</span>
  <label>Listener<select id="listener"></select></label>
  <label>Worker<select id="worker"></select></label>
  <span id="updated"></span>
</header>
<main>
  <div id="charts"></div>
  <h3>Listeners</h3>
  <table id="listeners"></table>
  <section id="websockets-section" style="display: none">
    <h3>WebSockets</h3>
    <table id="websockets"></table>
  </section>
  <h3>Workers</h3>
  <table id="workers"></table>
</main>
<script type="module" src="assets/client.js"></script>
</body>
</html>
`;
