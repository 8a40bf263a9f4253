/** The landing page at `/`: what this server is and where to go next. */
export function landingPage(version: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Plinth API</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 4rem auto; padding: 0 1rem; color: #1c1c1e; }
  code { background: #f2f2f4; padding: .1rem .3rem; border-radius: 4px; }
  a { color: #0a58ca; }
</style>
</head>
<body>
<h1>Plinth</h1>
<p>A multi-tenant backend platform: tenants, identity, API keys, typed data, files, events, webhooks,
realtime and AI behind one REST API. Version ${version}.</p>
<ul>
  <li><a href="/console">Admin console</a></li>
  <li><a href="/docs">API reference</a> (<a href="/docs/openapi.json">OpenAPI 3.1</a>)</li>
  <li><a href="/health">Health</a> and <a href="/ready">readiness</a></li>
</ul>
<p>Authenticate with <code>Authorization: Bearer &lt;api key&gt;</code>. Create a tenant and its first key with
<code>npx plinth bootstrap</code>.</p>
</body>
</html>`;
}
