/** The first sign-in with a one-time password: a new password is required before anything else. */
import { Alert, Button, Center, Paper, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { call, type Session } from '../api';

export function ChangePassword({ session, onChanged }: { session: Session; onChanged: (s: Session) => void }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (next !== repeat) return setError('The new passwords differ');
    try {
      onChanged(await call<Session>('/session/password', { method: 'POST', body: { currentPassword: current, newPassword: next } }));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder p="xl" w={420} maw="100%" component="main">
        <Title order={1} size="h2" mb="xs">Choose a new password</Title>
        <Text c="dimmed" mb="lg">{session.email} signed in with a one-time password. Choose your own (at least 12 characters).</Text>
        <form onSubmit={submit} aria-label="Change password">
          <Stack>
            {error && <Alert color="red" role="alert">{error}</Alert>}
            <PasswordInput label="One-time password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.currentTarget.value)} />
            <PasswordInput label="New password" autoComplete="new-password" required minLength={12} value={next} onChange={(e) => setNext(e.currentTarget.value)} />
            <PasswordInput label="New password again" autoComplete="new-password" required value={repeat} onChange={(e) => setRepeat(e.currentTarget.value)} />
            <Button type="submit">Set password</Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
