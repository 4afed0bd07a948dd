/** Bulk export jobs: progress (units done of total, resources so far), files, the client that asked, cancel. */
import { Alert, Badge, Button, Drawer, Group, Progress, Stack, Table, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { call, can, fmtBytes, fmtDate, fmtNumber, t, type Session } from '../api';
import { useApi } from '../hooks';

interface Job { id: string; clientId: string; level: string; state: string; createdAt: string; completedAt: string | null; unitsTotal: number | null; unitsDone: number; resourcesDone: number; error: string | null; requestUrl: string; files?: { name: string; kind: string; type: string | null; count: number; bytes: number }[] }

function progress(j: Job): number {
  return j.unitsTotal ? Math.round((j.unitsDone / j.unitsTotal) * 100) : j.state === 'completed' ? 100 : 0;
}

export function ExportsPage({ tenant, session }: { tenant: string; session: Session }) {
  const { data, error, reload } = useApi<{ jobs: Job[] }>(t(tenant, '/exports'), 5_000);
  const [shown, setShown] = useState<string | null>(null);
  const job = useApi<Job>(shown ? t(tenant, `/exports/${shown}`) : null);
  const [message, setMessage] = useState<string | null>(null);
  const cancel = async (id: string) => {
    if (!window.confirm('Cancel this export? Its files are deleted.')) return;
    try {
      await call(t(tenant, `/exports/${id}`), { method: 'DELETE' });
      setMessage(`Export ${id} cancelled.`);
      reload();
      job.reload();
    } catch (err) {
      setMessage((err as Error).message);
    }
  };
  return (
    <Stack>
      <Title order={2}>Bulk exports</Title>
      {error && <Alert color="red" role="alert">{error}</Alert>}
      {message && <Alert role="status">{message}</Alert>}
      <div className="table-scroll">
        <Table striped aria-label="Export jobs">
          <Table.Thead>
            <Table.Tr><Table.Th>Started</Table.Th><Table.Th>Client</Table.Th><Table.Th>Level</Table.Th><Table.Th>State</Table.Th><Table.Th>Progress</Table.Th><Table.Th>Resources</Table.Th><Table.Th><span className="skip-link">Actions</span></Table.Th></Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {data?.jobs.map((j) => (
              <Table.Tr key={j.id}>
                <Table.Td className="nowrap">{fmtDate(j.createdAt)}</Table.Td>
                <Table.Td className="mono">{j.clientId}</Table.Td>
                <Table.Td>{j.level}</Table.Td>
                <Table.Td><Badge variant="dot" color={j.state === 'active' ? 'blue' : j.state === 'completed' ? 'green' : 'gray'}>{j.state}</Badge></Table.Td>
                <Table.Td miw={140}>
                  <Progress value={progress(j)} aria-label={`Units done: ${j.unitsDone} of ${j.unitsTotal ?? 'not yet planned'}`} />
                  <Text size="xs">{j.unitsDone} / {j.unitsTotal ?? '…'} units</Text>
                </Table.Td>
                <Table.Td>{fmtNumber(j.resourcesDone)}</Table.Td>
                <Table.Td>
                  <Group gap="xs" wrap="nowrap">
                    <Button size="xs" variant="default" onClick={() => setShown(j.id)} aria-label={`Details of export ${j.id}`}>Details</Button>
                    {can(session, 'exports:cancel') && j.state === 'active' && <Button size="xs" color="red" variant="outline" onClick={() => void cancel(j.id)} aria-label={`Cancel export ${j.id}`}>Cancel</Button>}
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </div>
      {data && !data.jobs.length && <Text c="dimmed">No exports yet.</Text>}
      <Drawer closeButtonProps={{ "aria-label": "Close" }} opened={!!shown} onClose={() => setShown(null)} position="right" size="lg" title="Export job">
        {job.data && (
          <Stack>
            <Text className="mono">{job.data.id}</Text>
            <Text size="sm" className="mono">{job.data.requestUrl}</Text>
            <Text>State: {job.data.state}{job.data.error ? ` — ${job.data.error}` : ''}; started {fmtDate(job.data.createdAt)}; completed {fmtDate(job.data.completedAt)}</Text>
            <Title order={3} size="h4">Files</Title>
            {job.data.files?.length ? (
              <Table aria-label="Files">
                <Table.Thead><Table.Tr><Table.Th>Name</Table.Th><Table.Th>Kind</Table.Th><Table.Th>Type</Table.Th><Table.Th>Resources</Table.Th><Table.Th>Size</Table.Th></Table.Tr></Table.Thead>
                <Table.Tbody>{job.data.files.map((f) => <Table.Tr key={f.name}><Table.Td className="mono">{f.name}</Table.Td><Table.Td>{f.kind}</Table.Td><Table.Td>{f.type ?? '—'}</Table.Td><Table.Td>{fmtNumber(f.count)}</Table.Td><Table.Td>{fmtBytes(f.bytes)}</Table.Td></Table.Tr>)}</Table.Tbody>
              </Table>
            ) : <Text c="dimmed">No files yet.</Text>}
          </Stack>
        )}
      </Drawer>
    </Stack>
  );
}
