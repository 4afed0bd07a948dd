/** Sign-in: a local account, or the payer's identity provider through OpenID Connect when configured. */
import { Alert, Button, Center, Divider, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { useEffect, useState, type FormEvent } from 'react';
import { call, type Session } from '../api';

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(new URLSearchParams(window.location.search).get('signin_error'));
  const [busy, setBusy] = useState(false);
  const [oidc, setOidc] = useState(false);
  useEffect(() => {
    call<{ oidc: boolean }>('/session/methods').then((m) => setOidc(m.oidc), () => undefined);
  }, []);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await call<Session>('/session', { method: 'POST', body: { email, password } }));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w={420} maw="100%" component="main">
        <Title order={1} size="h2" mb="xs">payer-fhir console</Title>
        <Text c="dimmed" mb="lg">Sign in to manage partner applications, usage and the audit trail.</Text>
        {oidc && (
          <>
            <Button component="a" href="/admin/api/oidc/login" fullWidth size="md">Sign in with your company account</Button>
            <Divider my="lg" label="or with a local account" labelPosition="center" />
          </>
        )}
        <form onSubmit={submit} aria-label="Sign in with a local account">
          <Stack>
            {error && <Alert color="red" title="Sign-in failed" role="alert">{error}</Alert>}
            <TextInput label="Email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} />
            <PasswordInput label="Password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} />
            <Button type="submit" loading={busy}>Sign in</Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
