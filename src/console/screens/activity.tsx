// Usage (current figures and plots over time) and the live event tail.
import { useEffect, useRef, useState } from 'react';
import { Box, Button as MuiButton, Card, CardContent, Chip, LinearProgress, MenuItem, Stack, TextField as MuiTextField, Typography } from '@mui/material';
import { Title } from 'react-admin';
import { api, baseUrl, can, loadSession } from '../session.ts';
import { ErrorBox, formatBytes } from '../ui.tsx';

interface Point {
  label: string;
  value: number;
}

/** A small line plot: enough for a trend, without a charting library in the bundle. */
export function LinePlot({ title, points, unit = '' }: { title: string; points: Point[]; unit?: string }) {
  const width = 560;
  const height = 160;
  const pad = 30;
  const max = Math.max(1, ...points.map((p) => p.value));
  const x = (i: number) => pad + (points.length <= 1 ? 0 : (i * (width - 2 * pad)) / (points.length - 1));
  const y = (v: number) => height - pad - (v / max) * (height - 2 * pad);
  return (
    <Card variant="outlined" sx={{ flex: '1 1 560px' }}>
      <CardContent>
        <Typography variant="subtitle1">{title}</Typography>
        {points.length === 0 ? (
          <Typography variant="body2">No data in this period.</Typography>
        ) : (
          <svg viewBox={`0 0 ${width} ${height}`} width="100%" style={{ maxHeight: 220 }} role="img" aria-label={title}>
            <line x1={pad} y1={height - pad} x2={width - pad} y2={height - pad} stroke="#bbb" />
            <line x1={pad} y1={pad} x2={pad} y2={height - pad} stroke="#bbb" />
            <text x={2} y={pad} fontSize="10">{`${max}${unit}`}</text>
            <text x={2} y={height - pad} fontSize="10">0</text>
            <polyline fill="none" stroke="#1976d2" strokeWidth="2" points={points.map((p, i) => `${x(i)},${y(p.value)}`).join(' ')} />
            {points.map((p, i) => (
              <circle key={i} cx={x(i)} cy={y(p.value)} r="2.5" fill="#1976d2">
                <title>{`${p.label}: ${p.value}${unit}`}</title>
              </circle>
            ))}
            <text x={pad} y={height - 8} fontSize="10">{points[0]!.label}</text>
            <text x={width - pad} y={height - 8} fontSize="10" textAnchor="end">{points[points.length - 1]!.label}</text>
          </svg>
        )}
      </CardContent>
    </Card>
  );
}

function Meter({ label, used, limit, format = String }: { label: string; used: number; limit: number; format?: (n: number) => string }) {
  const percent = limit > 0 ? Math.min(100, (used / limit) * 100) : 0;
  return (
    <Card variant="outlined" sx={{ flex: '1 1 260px' }}>
      <CardContent>
        <Typography variant="subtitle2">{label}</Typography>
        <Typography variant="h6">
          {format(used)} <small>of {limit > 0 ? format(limit) : 'unlimited'}</small>
        </Typography>
        <LinearProgress variant="determinate" value={percent} color={percent > 90 ? 'error' : 'primary'} />
      </CardContent>
    </Card>
  );
}

const shortDay = (iso: string) => iso.slice(5, 16).replace('T', ' ');

export function UsagePage() {
  const [period, setPeriod] = useState<'24h' | '7d' | '30d' | '90d'>('7d');
  const [usage, setUsage] = useState<Awaited<ReturnType<typeof loadUsage>>>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    setError(undefined);
    loadUsage(period).then(setUsage, setError);
  }, [period]);
  return (
    <Box sx={{ p: 2 }}>
      <Title title="Usage" />
      <Stack direction="row" spacing={2} sx={{ mb: 2, alignItems: 'center' }}>
        <Typography variant="h5">Usage</Typography>
        <MuiTextField select size="small" label="Period" sx={{ width: 140 }} value={period} onChange={(e) => setPeriod(e.target.value as typeof period)}>
          {['24h', '7d', '30d', '90d'].map((p) => (
            <MenuItem key={p} value={p}>
              {p}
            </MenuItem>
          ))}
        </MuiTextField>
      </Stack>
      <ErrorBox error={error} title="The API refused the usage" />
      {usage ? (
        <Stack spacing={2}>
          <Stack direction="row" sx={{ flexWrap: 'wrap', gap: 2 }}>
            <Meter label={`Requests (${usage.current.requests.period})`} used={usage.current.requests.used} limit={usage.current.requests.limit} />
            <Meter label="Storage" used={usage.current.used_storage_bytes} limit={Number(usage.current.plan_limits.storage_bytes ?? 0)} format={formatBytes} />
            <Card variant="outlined" sx={{ flex: '1 1 260px' }}>
              <CardContent>
                <Typography variant="subtitle2">In the last {period}</Typography>
                <Typography variant="body2">
                  {usage.analytics.changes.total} changes · {usage.analytics.events.total} events · {usage.analytics.active_users} active users · {usage.analytics.records.total} records
                </Typography>
              </CardContent>
            </Card>
            {usage.ai ? <Meter label="AI tokens this period" used={usage.ai.total_tokens} limit={usage.ai.quota.limit} /> : null}
          </Stack>
          <Stack direction="row" sx={{ flexWrap: 'wrap', gap: 2 }}>
            <LinePlot title={`Changes (writes) per ${usage.series.interval}`} points={usage.series.series.changes.map((b) => ({ label: shortDay(b.bucket), value: b.count }))} />
            <LinePlot title={`Events per ${usage.series.interval}`} points={usage.series.series.events.map((b) => ({ label: shortDay(b.bucket), value: b.count }))} />
            {usage.ai ? <LinePlot title="AI tokens per day" points={usage.aiDaily} /> : null}
          </Stack>
        </Stack>
      ) : null}
    </Box>
  );
}

async function loadUsage(period: '24h' | '7d' | '30d' | '90d') {
  const [current, analytics, series] = await Promise.all([
    api((c) => c.usage.usageList()),
    api((c) => c.analytics.analyticsList({ period })),
    api((c) => c.analytics.analyticsEngineList({ period })),
  ]);
  // AI usage needs the `ai` scope; without it the plot is left out rather than the page failing.
  const ai = can('ai') ? await api((c) => c.aiUsage.aiUsageList({})).catch(() => undefined) : undefined;
  const byDay = new Map<string, number>();
  for (const d of ai?.daily ?? []) byDay.set(d.day, (byDay.get(d.day) ?? 0) + d.tokens_in + d.tokens_out);
  return {
    current,
    series,
    ai,
    aiDaily: [...byDay].sort().map(([label, value]) => ({ label, value })),
    analytics,
  };
}

interface TailEvent {
  id: string;
  type: string;
  data: string;
  at: string;
}

/** The live event tail: GET /events/stream (SSE), newest first, the last 200 kept. */
export function EventTail() {
  const [events, setEvents] = useState<TailEvent[]>([]);
  const [filter, setFilter] = useState('');
  const [state, setState] = useState<'connecting' | 'live' | 'retrying' | 'stopped'>('connecting');
  const [error, setError] = useState<unknown>();
  const [running, setRunning] = useState(true);
  const source = useRef<EventSource | null>(null);
  useEffect(() => {
    if (!running) return;
    let closed = false;
    (async () => {
      const token = loadSession()?.token;
      if (!token) return setError(new Error('Sign in to a tenant first'));
      let types: string[] = [];
      try {
        types = (await api((c) => c.types.typesList() as never)) as string[];
      } catch (err) {
        setError(err);
      }
      if (closed) return;
      const url = new URL('/events/stream', baseUrl());
      url.searchParams.set('token', token);
      if (filter) url.searchParams.set('types', filter);
      const es = new EventSource(url);
      source.current = es;
      const onEvent = (e: MessageEvent) =>
        setEvents((list) => [{ id: e.lastEventId, type: e.type, data: e.data as string, at: new Date().toISOString() }, ...list].slice(0, 200));
      // Frames are named by event type; custom events (POST /v1/events) come under their own names too.
      for (const type of new Set([...types, 'message'])) es.addEventListener(type, onEvent as EventListener);
      es.onopen = () => setState('live');
      es.onerror = () => setState(es.readyState === EventSource.CLOSED ? 'stopped' : 'retrying');
    })();
    return () => {
      closed = true;
      source.current?.close();
      setState('stopped');
    };
  }, [running, filter]);
  return (
    <Box sx={{ p: 2 }}>
      <Title title="Live events" />
      <Stack direction="row" spacing={2} sx={{ mb: 2, alignItems: 'center' }}>
        <Typography variant="h5">Live events</Typography>
        <Chip label={state} color={state === 'live' ? 'success' : state === 'retrying' ? 'warning' : 'default'} data-testid="tail-state" />
        <MuiTextField size="small" label="Types (comma separated, * allowed)" defaultValue={filter} onBlur={(e) => setFilter(e.target.value)} />
        <MuiButton onClick={() => setRunning(!running)}>{running ? 'Pause' : 'Resume'}</MuiButton>
        <MuiButton onClick={() => setEvents([])}>Clear</MuiButton>
      </Stack>
      <ErrorBox error={error} />
      {events.length === 0 ? <Typography variant="body2">Waiting for events… (create a record in another tab)</Typography> : null}
      <Box data-testid="event-tail">
        {events.map((e) => (
          <Box key={`${e.id}-${e.at}`} sx={{ borderBottom: '1px solid #eee', py: 0.5, fontFamily: 'monospace', fontSize: 12 }}>
            <strong>{e.type}</strong> <span style={{ color: '#888' }}>{e.id}</span>
            <div style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-all' }}>{e.data.length > 600 ? `${e.data.slice(0, 600)}…` : e.data}</div>
          </Box>
        ))}
      </Box>
    </Box>
  );
}
