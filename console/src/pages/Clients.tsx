/** Partner applications: status, authentication, scopes, last use, a sparkline of requests per day; register; details. */
import { Sparkline } from '@mantine/charts';
import { Alert, Badge, Button, Drawer, Group, Modal, Stack, Table, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { can, fmtDate, t, type Session } from '../api';
import { useApi } from '../hooks';
import { ClientDetail } from './ClientDetail';
import { ClientForm } from './ClientForm';

export interface ClientView {
  clientId: string;
  name: string;
  status: 'active' | 'disabled';
  auth: string;
  jwksUrl: string | null;
  scope: string;
  lastUsed: string | null;
  createdAt: string;
  dailyRequests?: { day: string; requests: number }[];
  [field: string]: unknown;
}

export const AUTH_LABEL: Record<string, string> = { jwks: 'uploaded JWKS', jwks_url: 'JWKS URL', client_secret: 'client secret' };

export function StatusBadge({ status }: { status: string }) {
  return <Badge variant="dot" color={status === 'active' ? 'green' : 'gray'}>{status}</Badge>;
}

export function ClientsPage({ tenant, session }: { tenant: string; session: Session }) {
  const { data, error, reload } = useApi<{ clients: ClientView[] }>(t(tenant, '/clients'));
  const [registering, setRegistering] = useState(false);
  const [shown, setShown] = useState<string | null>(null);
  const mayWrite = can(session, 'clients:write');
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Partner applications</Title>
        {mayWrite && <Button onClick={() => setRegistering(true)}>Register application</Button>}
      </Group>
      {error && <Alert color="red" role="alert">{error}</Alert>}
      <div className="table-scroll">
        <Table striped highlightOnHover aria-label="Partner applications">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th><Table.Th>Status</Table.Th><Table.Th>Authentication</Table.Th><Table.Th>Scopes</Table.Th><Table.Th>Last used</Table.Th><Table.Th>Requests, 14 days</Table.Th><Table.Th><span className="skip-link">Actions</span></Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {data?.clients.map((c) => (
              <Table.Tr key={c.clientId}>
                <Table.Td><Text fw={600}>{c.name}</Text><Text size="xs" c="dimmed" className="mono">{c.clientId}</Text></Table.Td>
                <Table.Td><StatusBadge status={c.status} /></Table.Td>
                <Table.Td>{AUTH_LABEL[c.auth] ?? c.auth}</Table.Td>
                <Table.Td><Text size="sm" className="mono">{c.scope}</Text></Table.Td>
                <Table.Td className="nowrap">{fmtDate(c.lastUsed)}</Table.Td>
                <Table.Td>
                  <div role="img" aria-label={`Requests per day over 14 days: ${(c.dailyRequests ?? []).map((d) => d.requests).join(', ')}`}>
                    <Sparkline w={120} h={32} data={(c.dailyRequests ?? []).map((d) => d.requests)} curveType="linear" color="blue.9" fillOpacity={0.2} />
                  </div>
                </Table.Td>
                <Table.Td><Button size="xs" variant="default" onClick={() => setShown(c.clientId)} aria-label={`Details of ${c.name}`}>Details</Button></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </div>
      {data && !data.clients.length && <Text c="dimmed">No partner applications registered yet.</Text>}
      <Modal closeButtonProps={{ "aria-label": "Close" }} opened={registering} onClose={() => setRegistering(false)} title="Register a partner application" size="lg">
        <ClientForm tenant={tenant} onDone={() => { setRegistering(false); reload(); }} />
      </Modal>
      <Drawer closeButtonProps={{ "aria-label": "Close" }} opened={!!shown} onClose={() => { setShown(null); reload(); }} position="right" size="lg" title="Partner application">
        {shown && <ClientDetail tenant={tenant} clientId={shown} session={session} />}
      </Drawer>
    </Stack>
  );
}
