/**
 * The console's frame: who is signed in (the session decides every page and control), the
 * tenant being looked at, navigation by URL hash, and sign-out. A page a role may not use is
 * not in the navigation; the admin API refuses it anyway.
 */
import { Anchor, AppShell, Badge, Burger, Button, Center, Group, Loader, NavLink, Select, Text, Title } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useCallback, useEffect, useState, type ReactElement } from 'react';
import { call, can, setCsrf, whenSignedOut, type Session } from './api';
import { AlertsPage } from './pages/Alerts';
import { AuditPage } from './pages/Audit';
import { ChangePassword } from './pages/ChangePassword';
import { ClientsPage } from './pages/Clients';
import { ExportsPage } from './pages/Exports';
import { OverviewPage } from './pages/Overview';
import { ReportsPage } from './pages/Reports';
import { SignIn } from './pages/SignIn';

interface PageDef {
  path: string;
  label: string;
  permission: string;
  render: (tenant: string, session: Session) => ReactElement;
}

const PAGES: PageDef[] = [
  { path: 'overview', label: 'Overview', permission: 'overview', render: (t) => <OverviewPage tenant={t} /> },
  { path: 'clients', label: 'Partner applications', permission: 'clients:read', render: (t, s) => <ClientsPage tenant={t} session={s} /> },
  { path: 'reports', label: 'Usage reports', permission: 'reports:read', render: (t) => <ReportsPage tenant={t} /> },
  { path: 'audit', label: 'Audit trail', permission: 'audit:read', render: (t, s) => <AuditPage tenant={t} session={s} /> },
  { path: 'exports', label: 'Bulk exports', permission: 'exports:read', render: (t, s) => <ExportsPage tenant={t} session={s} /> },
  { path: 'alerts', label: 'Security alerts', permission: 'alerts:read', render: (t, s) => <AlertsPage tenant={t} session={s} /> },
];

function useHash(): [string, (p: string) => void] {
  const read = () => window.location.hash.replace(/^#\/?/, '') || 'overview';
  const [path, setPath] = useState(read);
  useEffect(() => {
    const on = () => setPath(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return [path, (p: string) => (window.location.hash = `#/${p}`)];
}

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [tenants, setTenants] = useState<string[]>([]);
  const [tenant, setTenant] = useState<string | null>(null);
  const [path, go] = useHash();
  const [opened, { toggle, close }] = useDisclosure();

  const signedIn = useCallback((s: Session | null) => {
    if (s) setCsrf(s.csrfToken);
    setSession(s);
  }, []);

  useEffect(() => {
    whenSignedOut(() => setSession(null));
    call<Session>('/session').then(signedIn, () => signedIn(null));
  }, [signedIn]);

  useEffect(() => {
    if (!session || session.mustChangePassword) return;
    call<{ tenants: { id: string }[] }>('/tenants').then((r) => {
      const ids = r.tenants.map((x) => x.id);
      setTenants(ids);
      const saved = window.localStorage.getItem('payer-fhir-console-tenant');
      setTenant((cur) => cur ?? (saved && ids.includes(saved) ? saved : (ids.includes('demo') ? 'demo' : ids[0]) ?? null));
    });
  }, [session]);

  if (session === undefined) return <Center h="100vh"><Loader aria-label="Loading" /></Center>;
  if (session === null) return <SignIn onSignedIn={signedIn} />;
  if (session.mustChangePassword) return <ChangePassword session={session} onChanged={signedIn} />;

  const pages = PAGES.filter((p) => can(session, p.permission));
  const page = pages.find((p) => p.path === path) ?? pages[0];
  const signOut = async () => {
    await call('/session', { method: 'DELETE' }).catch(() => undefined);
    setSession(null);
  };

  return (
    <AppShell header={{ height: 64 }} navbar={{ width: 240, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <a href="#main" className="skip-link">Skip to content</a>
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
            <Title order={1} size="h4">payer-fhir console</Title>
          </Group>
          <Group wrap="nowrap" gap="sm">
            <Select
              aria-label="Tenant"
              data={tenants}
              value={tenant}
              onChange={(v) => {
                setTenant(v);
                if (v) window.localStorage.setItem('payer-fhir-console-tenant', v);
              }}
              allowDeselect={false}
              w={170}
              size="sm"
            />
            <Text size="sm" visibleFrom="md" className="nowrap">{session.email}</Text>
            <Badge variant="outline" color="dark">{session.role}</Badge>
            <Button variant="default" size="sm" onClick={signOut}>Sign out</Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="sm" aria-label="Console sections">
        {pages.map((p) => (
          <NavLink key={p.path} href={`#/${p.path}`} label={p.label} active={p === page} variant="filled" onClick={() => { go(p.path); close(); }} aria-current={p === page ? 'page' : undefined} />
        ))}
        {tenant && (
          <Anchor href={`/developers/${encodeURIComponent(tenant)}`} target="_blank" rel="noreferrer" mt="md" px="sm" size="sm">
            Developer portal (public)
          </Anchor>
        )}
      </AppShell.Navbar>
      <AppShell.Main id="main" tabIndex={-1}>
        {tenant && page ? page.render(tenant, session) : <Text>No tenant to show.</Text>}
      </AppShell.Main>
    </AppShell>
  );
}
