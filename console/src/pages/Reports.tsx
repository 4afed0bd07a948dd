/** Usage and compliance report per client per day over a date range (the figures of `payer-fhir audit report`), with CSV download. */
import { Alert, Anchor, Button, Group, Stack, Switch, Table, Text, TextInput, Title } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { API, fmtBytes, fmtNumber, t } from '../api';
import { useApi } from '../hooks';

interface Row { clientId: string; day?: string; requests: number; resources: number; bytes: number; denials: number; exports: number; authFailures: number; clientErrors: number; serverErrors: number; p95Ms: number }

const today = () => new Date().toISOString().slice(0, 10);
const weekAgo = () => new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10);

export function ReportsPage({ tenant }: { tenant: string }) {
  const [form, setForm] = useState({ from: weekAgo(), to: today(), byDay: true });
  const [query, setQuery] = useState(form);
  const qs = `from=${query.from}&to=${query.to}&byDay=${query.byDay}`;
  const { data, error, loading } = useApi<{ rows: Row[] }>(t(tenant, `/reports/usage?${qs}`));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setQuery(form);
  };
  return (
    <Stack>
      <Title order={2}>Usage and compliance report</Title>
      <form onSubmit={submit} aria-label="Report period">
        <Group align="flex-end">
          <TextInput type="date" label="From" value={form.from} onChange={(e) => setForm({ ...form, from: e.currentTarget.value })} required />
          <TextInput type="date" label="To (inclusive)" value={form.to} onChange={(e) => setForm({ ...form, to: e.currentTarget.value })} required />
          <Switch label="Per day" checked={form.byDay} onChange={(e) => setForm({ ...form, byDay: e.currentTarget.checked })} mb={8} />
          <Button type="submit" loading={loading}>Show</Button>
          <Anchor href={`${API}${t(tenant, `/reports/usage?${qs}&format=csv`)}`} download mb={8}>Download CSV</Anchor>
        </Group>
      </form>
      {error && <Alert color="red" role="alert">{error}</Alert>}
      <div className="table-scroll">
        <Table striped aria-label="Usage per client">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Client</Table.Th>{query.byDay && <Table.Th>Day</Table.Th>}<Table.Th>Requests</Table.Th><Table.Th>Resources</Table.Th><Table.Th>Bytes</Table.Th><Table.Th>Denials</Table.Th><Table.Th>Exports</Table.Th><Table.Th>Auth failures</Table.Th><Table.Th>4xx</Table.Th><Table.Th>5xx</Table.Th><Table.Th>p95 ms</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {data?.rows.map((r) => (
              <Table.Tr key={`${r.clientId}-${r.day ?? ''}`}>
                <Table.Td className="mono">{r.clientId}</Table.Td>{query.byDay && <Table.Td className="nowrap">{r.day}</Table.Td>}
                <Table.Td>{fmtNumber(r.requests)}</Table.Td><Table.Td>{fmtNumber(r.resources)}</Table.Td><Table.Td className="nowrap">{fmtBytes(r.bytes)}</Table.Td>
                <Table.Td>{fmtNumber(r.denials)}</Table.Td><Table.Td>{fmtNumber(r.exports)}</Table.Td><Table.Td>{fmtNumber(r.authFailures)}</Table.Td>
                <Table.Td>{fmtNumber(r.clientErrors)}</Table.Td><Table.Td>{fmtNumber(r.serverErrors)}</Table.Td><Table.Td>{r.p95Ms}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </div>
      {data && !data.rows.length && <Text c="dimmed">No requests in this period.</Text>}
    </Stack>
  );
}
