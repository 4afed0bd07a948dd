/** One partner application: its settings, keys and hourly usage; disable, enable, rotate the secret, change limits. */
import { BarChart } from '@mantine/charts';
import { Alert, Button, Code, Group, Stack, Table, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { CLIENT_FIELDS } from '../../../src/admin/client-fields';
import { call, can, fmtDate, fmtNumber, t, type Session } from '../api';
import { useApi } from '../hooks';
import { AUTH_LABEL, StatusBadge, type ClientView } from './Clients';
import { fieldBody, FieldInput } from './ClientForm';

const LIMITS = CLIENT_FIELDS.filter((f) => f.target === 'limits');

export function ClientDetail({ tenant, clientId, session }: { tenant: string; clientId: string; session: Session }) {
  const path = t(tenant, `/clients/${encodeURIComponent(clientId)}`);
  const client = useApi<ClientView>(path);
  const keys = useApi<{ keys: { kid: string; alg: string | null; kty: string }[]; error?: string; source: string }>(`${path}/keys`);
  const usage = useApi<{ points: { at: string; requests: number; failed: number }[] }>(`${path}/usage?days=7`);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [limits, setLimits] = useState<Record<string, string> | null>(null);
  const mayWrite = can(session, 'clients:write');
  const c = client.data;

  const act = async (what: string, fn: () => Promise<unknown>) => {
    setMessage(null);
    try {
      await fn();
      setMessage({ ok: true, text: what });
      client.reload();
    } catch (err) {
      setMessage({ ok: false, text: (err as Error).message });
    }
  };

  if (client.error) return <Alert color="red" role="alert">{client.error}</Alert>;
  if (!c) return null;
  const editing = limits ?? Object.fromEntries(LIMITS.map((f) => [f.name, c[f.name] === null || c[f.name] === undefined ? '' : String(c[f.name])]));
  return (
    <Stack>
      <Title order={2} size="h3">{c.name}</Title>
      <Group><StatusBadge status={c.status} /><Text size="sm" className="mono">{c.clientId}</Text></Group>
      {message && <Alert color={message.ok ? 'green' : 'red'} role={message.ok ? 'status' : 'alert'}>{message.text}</Alert>}
      {secret && <Alert color="yellow" title="New client secret — shown this once only"><Code className="mono" data-testid="rotated-secret">{secret}</Code></Alert>}
      <Table aria-label="Settings">
        <Table.Tbody>
          <Table.Tr><Table.Th scope="row">Authentication</Table.Th><Table.Td>{AUTH_LABEL[c.auth] ?? c.auth}{c.jwksUrl ? <Text size="sm" className="mono">{c.jwksUrl}</Text> : null}</Table.Td></Table.Tr>
          <Table.Tr><Table.Th scope="row">Scopes</Table.Th><Table.Td className="mono">{c.scope}</Table.Td></Table.Tr>
          <Table.Tr><Table.Th scope="row">Registered</Table.Th><Table.Td>{fmtDate(c.createdAt)}</Table.Td></Table.Tr>
          <Table.Tr><Table.Th scope="row">Last used</Table.Th><Table.Td>{fmtDate(c.lastUsed)}</Table.Td></Table.Tr>
          {CLIENT_FIELDS.map((f) => (
            <Table.Tr key={f.name}><Table.Th scope="row">{f.label}</Table.Th><Table.Td>{c[f.name] === null || c[f.name] === undefined ? 'server default' : String(c[f.name])}</Table.Td></Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {mayWrite && (
        <Group>
          {c.status === 'active'
            ? <Button color="red" variant="outline" onClick={() => act('Disabled: its tokens no longer work.', () => call(`${path}/disable`, { method: 'POST' }))}>Disable</Button>
            : <Button variant="outline" onClick={() => act('Enabled again.', () => call(`${path}/enable`, { method: 'POST' }))}>Enable</Button>}
          {c.auth === 'client_secret' && (
            <Button variant="outline" onClick={() => act('Secret rotated: the old one no longer works.', async () => setSecret((await call<{ clientSecret: string }>(`${path}/rotate-secret`, { method: 'POST' })).clientSecret))}>Rotate secret</Button>
          )}
        </Group>
      )}
      <Title order={3} size="h4">Registered keys</Title>
      {keys.data?.error && <Alert color="yellow">{keys.data.error}</Alert>}
      {keys.data && (keys.data.keys.length ? (
        <Table aria-label="Registered keys">
          <Table.Thead><Table.Tr><Table.Th>kid</Table.Th><Table.Th>alg</Table.Th><Table.Th>kty</Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>{keys.data.keys.map((k) => <Table.Tr key={k.kid}><Table.Td className="mono">{k.kid}</Table.Td><Table.Td>{k.alg ?? '—'}</Table.Td><Table.Td>{k.kty}</Table.Td></Table.Tr>)}</Table.Tbody>
        </Table>
      ) : <Text c="dimmed">{keys.data.source === 'client_secret' ? 'Authenticates with a client secret.' : 'No keys.'}</Text>)}
      <Title order={3} size="h4">Requests per hour, last 7 days</Title>
      {usage.data && (usage.data.points.length ? (
        <BarChart h={180} data={usage.data.points.map((p) => ({ hour: new Date(p.at).toLocaleString('en-US', { month: 'short', day: 'numeric', hour: '2-digit' }), Requests: p.requests, Failed: p.failed }))} dataKey="hour" series={[{ name: 'Requests', color: 'blue.9' }, { name: 'Failed', color: 'red.9' }]} />
      ) : <Text c="dimmed">No requests in the last 7 days ({fmtNumber(0)}).</Text>)}
      {mayWrite && (
        <form aria-label="Limits" onSubmit={(e) => { e.preventDefault(); void act('Limits saved; every server process applies them at once.', () => call(`${path}/limits`, { method: 'PUT', body: fieldBody(editing, LIMITS, 'null') })).then(() => setLimits(null)); }}>
          <Stack>
            <Title order={3} size="h4">Limits</Title>
            {LIMITS.map((f) => <FieldInput key={f.name} field={f} value={editing[f.name] ?? ''} onChange={(v) => setLimits({ ...editing, [f.name]: v })} />)}
            <Group justify="flex-end"><Button type="submit" variant="outline">Save limits</Button></Group>
          </Stack>
        </form>
      )}
    </Stack>
  );
}
