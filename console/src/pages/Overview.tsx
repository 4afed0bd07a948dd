/** Requests, error rate, p95 latency, running exports and open alerts — last hour and last day, from the rollups. */
import { AreaChart, LineChart } from '@mantine/charts';
import { Alert, Card, Group, Paper, SegmentedControl, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { fmtNumber, t } from '../api';
import { useApi } from '../hooks';

interface Point { at: string; requests: number; failed: number; bytes: number; p95Ms: number | null }
interface Series { points: Point[]; total: { requests: number; failed: number; bytes: number; errorRate: number; p95Ms: number | null } }
interface Overview { lastHour: Series; lastDay: Series; runningExports: number; openAlerts: number; generatedAt: string }

function Stat({ label, value, hint }: { label: string; value: string; hint: string }) {
  return (
    <Card withBorder padding="md" component="section" aria-label={label}>
      <Text size="sm" c="dimmed">{label}</Text>
      <Text size="xl" fw={700}>{value}</Text>
      <Text size="xs" c="dimmed">{hint}</Text>
    </Card>
  );
}

export function OverviewPage({ tenant }: { tenant: string }) {
  const { data, error } = useApi<Overview>(t(tenant, '/overview'), 30_000);
  const [range, setRange] = useState<'hour' | 'day'>('hour');
  if (error) return <Alert color="red" role="alert">{error}</Alert>;
  const s = range === 'hour' ? data?.lastHour : data?.lastDay;
  const label = (at: string) => new Date(at).toLocaleTimeString('en-US', range === 'hour' ? { hour: '2-digit', minute: '2-digit' } : { hour: '2-digit' });
  const points = (s?.points ?? []).map((p) => ({ time: label(p.at), Requests: p.requests, Failed: p.failed, 'p95 ms': p.p95Ms ?? 0 }));
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Overview of {tenant}</Title>
        <SegmentedControl aria-label="Period" value={range} onChange={(v) => setRange(v as 'hour' | 'day')} data={[{ value: 'hour', label: 'Last hour' }, { value: 'day', label: 'Last day' }]} />
      </Group>
      <SimpleGrid cols={{ base: 1, xs: 2, md: 5 }}>
        <Stat label="Requests" value={fmtNumber(s?.total.requests)} hint={range === 'hour' ? 'last 60 minutes' : 'last 24 hours'} />
        <Stat label="Error rate" value={s ? `${(s.total.errorRate * 100).toFixed(1)} %` : '—'} hint={`${fmtNumber(s?.total.failed)} failed`} />
        <Stat label="p95 latency" value={s?.total.p95Ms ? `≤ ${s.total.p95Ms} ms` : '—'} hint="from the latency histogram" />
        <Stat label="Running exports" value={fmtNumber(data?.runningExports)} hint="bulk jobs now" />
        <Stat label="Open alerts" value={fmtNumber(data?.openAlerts)} hint="not resolved" />
      </SimpleGrid>
      <Paper withBorder p="md" component="section" aria-labelledby="req-chart">
        <Title order={3} size="h4" id="req-chart" mb="sm">Requests per {range === 'hour' ? 'minute' : 'hour'}</Title>
        {points.length ? (
          <AreaChart h={260} data={points} dataKey="time" series={[{ name: 'Requests', color: 'blue.9' }, { name: 'Failed', color: 'red.9' }]} curveType="monotone" withLegend />
        ) : <Text c="dimmed">No requests in this period.</Text>}
      </Paper>
      <Paper withBorder p="md" component="section" aria-labelledby="lat-chart">
        <Title order={3} size="h4" id="lat-chart" mb="sm">p95 latency (ms)</Title>
        {points.length ? <LineChart h={220} data={points} dataKey="time" series={[{ name: 'p95 ms', color: 'teal.9' }]} curveType="monotone" /> : <Text c="dimmed">No requests in this period.</Text>}
      </Paper>
    </Stack>
  );
}
