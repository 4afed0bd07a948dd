/** Security alerts: list by status, detail, acknowledge and resolve (with a note; who and when are stored). */
import { Alert, Badge, Button, Code, Group, Modal, SegmentedControl, Stack, Table, Text, Textarea, Title } from '@mantine/core';
import { useState } from 'react';
import { call, can, fmtDate, t, type Session } from '../api';
import { useApi } from '../hooks';

interface AlertView { id: number; rule: string; clientId: string | null; sourceIp: string | null; summary: string; details: Record<string, unknown>; raisedAt: string; status: string; acknowledgedBy: string | null; acknowledgedAt: string | null; resolvedBy: string | null; resolvedAt: string | null; note: string | null }

export function AlertsPage({ tenant, session }: { tenant: string; session: Session }) {
  const [status, setStatus] = useState('open');
  const { data, error, reload } = useApi<{ alerts: AlertView[] }>(t(tenant, `/alerts${status === 'all' ? '' : `?status=${status}`}`), 30_000);
  const [shown, setShown] = useState<AlertView | null>(null);
  const [note, setNote] = useState('');
  const [failure, setFailure] = useState<string | null>(null);
  const mayWrite = can(session, 'alerts:write');
  const handle = async (a: AlertView, action: 'acknowledge' | 'resolve') => {
    setFailure(null);
    try {
      setShown(await call<AlertView>(t(tenant, `/alerts/${a.id}/${action}`), { method: 'POST', body: note.trim() ? { note: note.trim() } : {} }));
      setNote('');
      reload();
    } catch (err) {
      setFailure((err as Error).message);
    }
  };
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Security alerts</Title>
        <SegmentedControl aria-label="Status" value={status} onChange={setStatus} data={['open', 'acknowledged', 'resolved', 'all']} />
      </Group>
      {error && <Alert color="red" role="alert">{error}</Alert>}
      <div className="table-scroll">
        <Table striped aria-label="Security alerts">
          <Table.Thead><Table.Tr><Table.Th>Raised</Table.Th><Table.Th>Rule</Table.Th><Table.Th>Summary</Table.Th><Table.Th>Status</Table.Th><Table.Th><span className="skip-link">Actions</span></Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>
            {data?.alerts.map((a) => (
              <Table.Tr key={a.id}>
                <Table.Td className="nowrap">{fmtDate(a.raisedAt)}</Table.Td>
                <Table.Td>{a.rule}</Table.Td>
                <Table.Td>{a.summary}</Table.Td>
                <Table.Td><Badge variant="dot" color={a.status === 'open' ? 'red' : a.status === 'acknowledged' ? 'yellow' : 'green'}>{a.status}</Badge></Table.Td>
                <Table.Td><Button size="xs" variant="default" onClick={() => setShown(a)} aria-label={`Details of alert ${a.id}`}>Details</Button></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </div>
      {data && !data.alerts.length && <Text c="dimmed">No {status === 'all' ? '' : status} alerts.</Text>}
      <Modal closeButtonProps={{ "aria-label": "Close" }} opened={!!shown} onClose={() => setShown(null)} title={shown ? `Alert ${shown.id}: ${shown.rule}` : ''} size="lg">
        {shown && (
          <Stack>
            {failure && <Alert color="red" role="alert">{failure}</Alert>}
            <Text>{shown.summary}</Text>
            <Text size="sm">Raised {fmtDate(shown.raisedAt)}{shown.clientId ? ` · client ${shown.clientId}` : ''}{shown.sourceIp ? ` · from ${shown.sourceIp}` : ''}</Text>
            <Code block className="mono">{JSON.stringify(shown.details, null, 2)}</Code>
            <Text size="sm" data-testid="alert-status">Status: {shown.status}{shown.acknowledgedBy ? ` · acknowledged by ${shown.acknowledgedBy} ${fmtDate(shown.acknowledgedAt)}` : ''}{shown.resolvedBy ? ` · resolved by ${shown.resolvedBy} ${fmtDate(shown.resolvedAt)}` : ''}</Text>
            {shown.note && <Text size="sm">Note: {shown.note}</Text>}
            {mayWrite && shown.status !== 'resolved' && (
              <>
                <Textarea label="Note (optional)" value={note} onChange={(e) => setNote(e.currentTarget.value)} maxLength={2000} />
                <Group justify="flex-end">
                  {shown.status === 'open' && <Button variant="outline" onClick={() => void handle(shown, 'acknowledge')}>Acknowledge</Button>}
                  <Button onClick={() => void handle(shown, 'resolve')}>Resolve</Button>
                </Group>
              </>
            )}
          </Stack>
        )}
      </Modal>
    </Stack>
  );
}
