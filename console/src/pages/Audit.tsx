/** The audit trail: filters, newest first with "Load more" (keyset paging), a record's detail, chain verification, CSV. */
import { Alert, Anchor, Badge, Button, Code, Group, Modal, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useEffect, useState, type FormEvent } from 'react';
import { API, call, can, fmtDate, t, type Session } from '../api';

interface Record_ { seq: number; recorded: string; durationMs: number; clientId: string | null; sourceIp: string | null; interaction: string; method: string; path: string; query: string | null; status: number; resources: number | null; bytes: number | null; detail: string | null; resourceType: string | null; resourceId: string | null; hash?: string; prevHash?: string; requestId: string | null }
interface Verify { ok: boolean; records: number; firstSeq: number | null; lastSeq: number | null; broken?: { seq: number; reason: string }; verifiedAt: string }

const INTERACTIONS = ['read', 'vread', 'search', 'history', 'create', 'update', 'delete', 'batch', 'token', 'export-kickoff', 'export-status', 'export-download', 'export-cancel', 'security-alert', 'admin', 'admin-signin'];
const EMPTY = { client: '', patient: '', interaction: '', outcome: '', from: '', to: '' };

export function AuditPage({ tenant, session }: { tenant: string; session: Session }) {
  const [form, setForm] = useState(EMPTY);
  const [filters, setFilters] = useState(EMPTY);
  const [records, setRecords] = useState<Record_[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [detail, setDetail] = useState<Record_ | null>(null);
  const [verify, setVerify] = useState<Verify | null>(null);
  const [verifying, setVerifying] = useState(false);
  const qs = new URLSearchParams(Object.entries(filters).filter(([, v]) => v)).toString();

  const load = async (before: number | null) => {
    setError(null);
    try {
      const r = await call<{ records: Record_[]; next: number | null }>(t(tenant, `/audit?${qs}${before ? `&before=${before}` : ''}&limit=50`));
      setRecords((old) => (before ? [...old, ...r.records] : r.records));
      setNext(r.next);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  useEffect(() => {
    void load(null);
  }, [tenant, qs]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setFilters(form);
  };
  const runVerify = async () => {
    setVerifying(true);
    try {
      setVerify(await call<Verify>(t(tenant, '/audit/verify'), { method: 'POST' }));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setVerifying(false);
    }
  };
  const open = async (seq: number) => setDetail(await call<Record_>(t(tenant, `/audit/${seq}`)));
  const set = (k: keyof typeof EMPTY) => (v: string | null) => setForm((f) => ({ ...f, [k]: v ?? '' }));

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Audit trail</Title>
        <Group>
          {can(session, 'audit:verify') && <Button onClick={runVerify} loading={verifying}>Verify chain</Button>}
          <Anchor href={`${API}${t(tenant, `/audit.csv?${qs}`)}`} download>Download CSV</Anchor>
        </Group>
      </Group>
      {verify && (
        <Alert color={verify.ok ? 'green' : 'red'} title={verify.ok ? 'Chain intact' : 'Chain broken'} role="status" data-testid="verify-result">
          {verify.ok
            ? `${verify.records} records verified${verify.records ? ` (${verify.firstSeq}…${verify.lastSeq})` : ''} at ${fmtDate(verify.verifiedAt)}.`
            : `Broken at record ${verify.broken?.seq}: ${verify.broken?.reason}.`}
        </Alert>
      )}
      <form onSubmit={submit} aria-label="Filter the audit trail">
        <Group align="flex-end" wrap="wrap">
          <TextInput label="Client id" value={form.client} onChange={(e) => set('client')(e.currentTarget.value)} />
          <TextInput label="Member (Patient id)" value={form.patient} onChange={(e) => set('patient')(e.currentTarget.value)} />
          <Select label="Interaction" data={INTERACTIONS} value={form.interaction || null} onChange={set('interaction')} clearable />
          <Select label="Outcome" data={[{ value: 'success', label: 'success' }, { value: 'client-error', label: 'client error (4xx)' }, { value: 'server-error', label: 'server error (5xx)' }]} value={form.outcome || null} onChange={set('outcome')} clearable />
          <TextInput type="date" label="From" value={form.from} onChange={(e) => set('from')(e.currentTarget.value)} />
          <TextInput type="date" label="To (inclusive)" value={form.to} onChange={(e) => set('to')(e.currentTarget.value)} />
          <Button type="submit">Apply</Button>
          <Button variant="default" onClick={() => { setForm(EMPTY); setFilters(EMPTY); }}>Clear</Button>
        </Group>
      </form>
      {error && <Alert color="red" role="alert">{error}</Alert>}
      <div className="table-scroll">
        <Table striped aria-label="Audit records">
          <Table.Thead>
            <Table.Tr><Table.Th>#</Table.Th><Table.Th>Time</Table.Th><Table.Th>Client</Table.Th><Table.Th>Interaction</Table.Th><Table.Th>Request</Table.Th><Table.Th>Status</Table.Th><Table.Th>Detail</Table.Th></Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {records.map((r) => (
              <Table.Tr key={r.seq} className="clickable-row" tabIndex={0} onClick={() => void open(r.seq)} onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && void open(r.seq)} aria-label={`Audit record ${r.seq}`}>
                <Table.Td>{r.seq}</Table.Td>
                <Table.Td className="nowrap">{fmtDate(r.recorded)}</Table.Td>
                <Table.Td className="mono">{r.clientId ?? '—'}</Table.Td>
                <Table.Td>{r.interaction}</Table.Td>
                <Table.Td className="mono">{r.method} {r.path}{r.query ? `?${r.query}` : ''}</Table.Td>
                <Table.Td><Badge variant="outline" color={r.status >= 500 ? '#a61e1e' : r.status >= 400 ? '#8a3a06' : '#1d6130'}>{r.status}</Badge></Table.Td>
                <Table.Td><Text size="sm" lineClamp={2}>{r.detail ?? ''}</Text></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </div>
      {!records.length && !error && <Text c="dimmed">No records match.</Text>}
      {next && <Button variant="default" onClick={() => void load(next)}>Load more</Button>}
      <Modal closeButtonProps={{ "aria-label": "Close" }} opened={!!detail} onClose={() => setDetail(null)} title={detail ? `Audit record ${detail.seq}` : ''} size="lg">
        {detail && (
          <Table aria-label="Record detail">
            <Table.Tbody>
              {Object.entries(detail).map(([k, v]) => (
                <Table.Tr key={k}><Table.Th scope="row">{k}</Table.Th><Table.Td>{k.endsWith('ash') ? <Code className="mono">{String(v)}</Code> : <Text size="sm" className="mono">{v === null ? '—' : String(v)}</Text>}</Table.Td></Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Modal>
    </Stack>
  );
}
