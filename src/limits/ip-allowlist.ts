/**
 * Per-client network allowlists: a list of addresses and CIDR ranges (IPv4 and IPv6). An
 * IPv4 client seen through an IPv6 socket (`::ffff:10.0.0.1`) is matched as IPv4.
 */
import net from 'node:net';
import { InvalidError } from '../errors.js';

/** Validates and normalises a list such as "10.0.0.0/8, 192.0.2.7, 2001:db8::/32". */
export function parseAllowlist(text: string): string[] {
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (!entries.length) throw new InvalidError('An IP allowlist needs at least one address or CIDR range');
  for (const e of entries) {
    const [addr, bits, extra] = e.split('/');
    const family = net.isIP(addr);
    const max = family === 4 ? 32 : 128;
    if (!family || extra !== undefined || (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max))) {
      throw new InvalidError(`'${e}' is not an IP address or CIDR range`);
    }
  }
  return entries;
}

export function toBlockList(entries: string[]): net.BlockList {
  const list = new net.BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/');
    const type = net.isIP(addr) === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

export function allowed(list: net.BlockList, ip: string | undefined): boolean {
  if (!ip) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const addr = mapped ? mapped[1] : ip;
  const family = net.isIP(addr);
  if (!family) return false;
  return list.check(addr, family === 4 ? 'ipv4' : 'ipv6');
}
