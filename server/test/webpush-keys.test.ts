/** The VAPID key pair: configured, or generated once and stored with the data (SPEC PUSH-20). */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { ConfigError } from '../src/config.js';
import { DEFAULT_VAPID_SUBJECT, generateVapidKeys, resolveVapidKeys } from '../src/push/webpush-keys.js';

function memoryMeta() {
  const map = new Map<string, string>();
  return {
    map,
    getMeta: async (k: string) => map.get(k) ?? null,
    setMeta: async (k: string, v: string) => void map.set(k, v),
    claimMeta: async (k: string, v: string) => {
      const stored = map.get(k);
      if (stored !== undefined) return stored;
      map.set(k, v);
      return v;
    },
  };
}

const unset = { vapidPublicKey: null, vapidPrivateKey: null, vapidSubject: null };

describe('VAPID keys', () => {
  test('[PUSH-20] generated on the first start, stored, and the same on every later start', async () => {
    const meta = memoryMeta();
    const first = await resolveVapidKeys(meta, unset);
    assert.equal(first.generated, true);
    assert.equal(first.subject, DEFAULT_VAPID_SUBJECT);
    assert.equal(Buffer.from(first.publicKey, 'base64url').length, 65);
    assert.equal(Buffer.from(first.privateKey, 'base64url').length, 32);
    const again = await resolveVapidKeys(meta, { ...unset, vapidSubject: 'mailto:ops@example.com' });
    assert.deepEqual(again, { ...first, generated: false, subject: 'mailto:ops@example.com' });
  });

  test('[PUSH-20] a configured pair wins and is not stored', async () => {
    const meta = memoryMeta();
    const pair = generateVapidKeys();
    const keys = await resolveVapidKeys(meta, {
      vapidPublicKey: pair.publicKey,
      vapidPrivateKey: pair.privateKey,
      vapidSubject: null,
    });
    assert.deepEqual(keys, { ...pair, subject: DEFAULT_VAPID_SUBJECT, generated: false });
    assert.equal(meta.map.size, 0);
  });

  test('[PUSH-20] half a pair, a mismatched pair, garbage or a bad subject stop the start', async () => {
    const a = generateVapidKeys();
    const b = generateVapidKeys();
    const bad = [
      { ...unset, vapidPublicKey: a.publicKey },
      { ...unset, vapidPrivateKey: a.privateKey },
      { vapidPublicKey: a.publicKey, vapidPrivateKey: b.privateKey, vapidSubject: null },
      { vapidPublicKey: 'nope', vapidPrivateKey: a.privateKey, vapidSubject: null },
      { ...unset, vapidSubject: 'ops@example.com' },
    ];
    for (const settings of bad) {
      await assert.rejects(resolveVapidKeys(memoryMeta(), settings), ConfigError, JSON.stringify(settings));
    }
  });
});
