/**
 * Registering a partner application: name, how it authenticates (a JWKS URL, an uploaded JWKS,
 * or a secret shown once), scopes picked from the tenant's resource types (v1 or v2, plus any
 * typed granular scope), and the settings of CLIENT_FIELDS — one form field per entry, so a new
 * setting needs no change here.
 */
import { Alert, Button, Code, CopyButton, FileInput, Group, MultiSelect, NumberInput, Radio, Stack, Text, Textarea, TextInput } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { CLIENT_FIELDS, type ClientField } from '../../../src/admin/client-fields';
import { call, t } from '../api';
import { useApi } from '../hooks';

interface Scopes { storedTypes: string[]; resourceTypes: string[]; wildcardScopes: string[] }

/** One CLIENT_FIELDS entry as an input; `value` '' means the server default. */
export function FieldInput({ field, value, onChange }: { field: ClientField; value: string; onChange: (v: string) => void }) {
  if (field.kind === 'text') return <TextInput label={field.label} description={field.help} value={value} onChange={(e) => onChange(e.currentTarget.value)} />;
  return (
    <NumberInput
      label={field.label}
      description={field.help}
      value={value === '' ? '' : Number(value)}
      onChange={(v) => onChange(v === '' ? '' : String(v))}
      min={field.min}
      max={field.max}
      allowDecimal={field.kind === 'number'}
    />
  );
}

/** The form's values of CLIENT_FIELDS as the API wants them (numbers; omitted when empty, or null to reset). */
export function fieldBody(values: Record<string, string>, fields: readonly ClientField[], emptyAs: 'omit' | 'null'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = values[f.name] ?? '';
    if (v === '') {
      if (emptyAs === 'null') out[f.name] = null;
    } else out[f.name] = f.kind === 'text' ? v : Number(v);
  }
  return out;
}

export function ClientForm({ tenant, onDone }: { tenant: string; onDone: (created: { clientId: string; clientSecret?: string } | null) => void }) {
  const scopes = useApi<Scopes>(t(tenant, '/scopes'));
  const [name, setName] = useState('');
  const [method, setMethod] = useState<'jwks_url' | 'jwks' | 'secret'>('jwks_url');
  const [jwksUrl, setJwksUrl] = useState('');
  const [jwksText, setJwksText] = useState('');
  const [picked, setPicked] = useState<string[]>([]);
  const [extra, setExtra] = useState('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<{ clientId: string; clientSecret?: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const types = scopes.data ? [...new Set([...scopes.data.storedTypes, ...scopes.data.resourceTypes])] : [];
  const options = scopes.data
    ? [
        { group: 'All types', items: scopes.data.wildcardScopes },
        { group: 'Read and search (v2)', items: types.map((x) => `system/${x}.rs`) },
        { group: 'Read (v1)', items: types.map((x) => `system/${x}.read`) },
      ]
    : [];

  const upload = async (file: File | null) => {
    if (file) setJwksText(await file.text());
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const scope = [...picked, ...extra.split(/\s+/).filter(Boolean)].join(' ');
    let jwks: unknown;
    if (method === 'jwks') {
      try {
        jwks = JSON.parse(jwksText);
      } catch {
        return setError('The JWKS is not valid JSON');
      }
    }
    setBusy(true);
    try {
      const res = await call<{ clientId: string; clientSecret?: string }>(t(tenant, '/clients'), {
        method: 'POST',
        body: { name, scope, ...(method === 'jwks_url' ? { jwksUrl } : method === 'jwks' ? { jwks } : { secret: true }), ...fieldBody(values, CLIENT_FIELDS, 'omit') },
      });
      setCreated(res);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  if (created) {
    return (
      <Stack>
        <Alert color="green" title="Application registered" role="status">
          Give the partner its client id{created.clientSecret ? ' and secret' : ''}.
        </Alert>
        <Text fw={600}>Client id</Text>
        <Group><Code className="mono" data-testid="new-client-id">{created.clientId}</Code><CopyButton value={created.clientId}>{({ copied, copy }) => <Button size="xs" variant="default" onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>}</CopyButton></Group>
        {created.clientSecret && (
          <>
            <Text fw={600}>Client secret — shown this once only</Text>
            <Group><Code className="mono" data-testid="new-client-secret">{created.clientSecret}</Code><CopyButton value={created.clientSecret}>{({ copied, copy }) => <Button size="xs" variant="default" onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>}</CopyButton></Group>
          </>
        )}
        <Button onClick={() => onDone(created)}>Done</Button>
      </Stack>
    );
  }

  return (
    <form onSubmit={submit} aria-label="Register a partner application">
      <Stack>
        {error && <Alert color="red" role="alert" title="Not registered">{error}</Alert>}
        <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} maxLength={200} />
        <Radio.Group label="Authentication" value={method} onChange={(v) => setMethod(v as typeof method)}>
          <Stack gap="xs" mt="xs">
            <Radio value="jwks_url" label="Public keys at a JWKS URL (private_key_jwt)" />
            <Radio value="jwks" label="Uploaded JWKS (private_key_jwt)" />
            <Radio value="secret" label="Client secret (generated, shown once)" />
          </Stack>
        </Radio.Group>
        {method === 'jwks_url' && <TextInput label="JWKS URL" required type="url" value={jwksUrl} onChange={(e) => setJwksUrl(e.currentTarget.value)} description="https (http only on loopback)" />}
        {method === 'jwks' && (
          <>
            <FileInput label="JWKS file" accept="application/json,.json,.jwks" onChange={upload} clearable />
            <Textarea label="JWKS (public keys)" required autosize minRows={3} maxRows={8} value={jwksText} onChange={(e) => setJwksText(e.currentTarget.value)} classNames={{ input: 'mono' }} />
          </>
        )}
        <MultiSelect label="Scopes" description="From the tenant's resource types (listed first: types it holds)" data={options} value={picked} onChange={setPicked} searchable clearable maxDropdownHeight={260} />
        <TextInput label="More scopes" description="Space-separated, e.g. granular: system/Observation.rs?category=laboratory" value={extra} onChange={(e) => setExtra(e.currentTarget.value)} />
        {CLIENT_FIELDS.map((f) => (
          <FieldInput key={f.name} field={f} value={values[f.name] ?? ''} onChange={(v) => setValues((o) => ({ ...o, [f.name]: v }))} />
        ))}
        <Group justify="flex-end">
          <Button variant="default" onClick={() => onDone(null)}>Cancel</Button>
          <Button type="submit" loading={busy}>Register</Button>
        </Group>
      </Stack>
    </form>
  );
}
