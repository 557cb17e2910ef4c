/** Small helpers to call a server's backend API and mint device tokens in tests. */

import { mintDeviceToken } from '@badgesync/server';
import type { AccountId, DeviceId } from '@badgesync/shared';
import type { ServerProcess } from './server-process.js';

export interface ApiAnswer<T = unknown> {
  readonly status: number;
  readonly body: T;
}

export async function api<T = Record<string, unknown>>(
  server: Pick<ServerProcess, 'http' | 'apiKey'>,
  method: string,
  route: string,
  body?: unknown,
  credential: string | null = server.apiKey,
): Promise<ApiAnswer<T>> {
  const headers: Record<string, string> = {};
  if (credential !== null) headers.authorization = `Bearer ${credential}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${server.http}${route}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed as T };
}

export function deviceToken(
  server: Pick<ServerProcess, 'deviceSecret'>,
  account: string,
  device: string,
  ttlSeconds = 3600,
): Promise<string> {
  return mintDeviceToken(server.deviceSecret, account as AccountId, device as DeviceId, ttlSeconds);
}

export interface BadgeAnswer {
  readonly badge: number;
  readonly threads: Record<string, number>;
  readonly muted: string[];
}

export async function badge(server: Pick<ServerProcess, 'http' | 'apiKey'>, account: string): Promise<BadgeAnswer> {
  const answer = await api<BadgeAnswer>(server, 'GET', `/v1/accounts/${account}/badge`);
  if (answer.status !== 200) throw new Error(`badge ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}
