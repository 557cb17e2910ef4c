/** The service-worker helper against a fake worker scope (SPEC SDK-21); Chromium runs it for real in test/e2e/browser-webpush.test.ts. */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import {
  badgeOfPush,
  handleBadgePush,
  installBadgePushHandler,
  type PushEventLike,
  type ServiceWorkerScopeLike,
} from '../src/service-worker.js';

function fakeScope(badging = true) {
  const calls: string[] = [];
  const listeners = new Set<(event: PushEventLike) => void>();
  const scope: ServiceWorkerScopeLike = {
    navigator: badging
      ? {
          setAppBadge: async (n?: number) => void calls.push(`set ${n}`),
          clearAppBadge: async () => void calls.push('clear'),
        }
      : {},
    registration: { showNotification: async (title: string) => void calls.push(`notify ${title}`) },
    addEventListener: (_type, listener) => void listeners.add(listener),
    removeEventListener: (_type, listener) => void listeners.delete(listener),
  };
  return { scope, calls, listeners };
}

async function push(scope: ReturnType<typeof fakeScope>, text: string | null): Promise<boolean> {
  const work: Promise<unknown>[] = [];
  const event: PushEventLike = {
    data: text === null ? null : { text: () => text },
    waitUntil: (p) => void work.push(p),
  };
  let handled = false;
  for (const listener of scope.listeners) listener(event);
  handled = work.length > 0;
  await Promise.all(work);
  return handled;
}

describe('service-worker helper', () => {
  test('[SDK-21] only {"badge": n} with a whole n in range is a badgesync push', () => {
    assert.equal(badgeOfPush('{"badge":4}'), 4);
    assert.equal(badgeOfPush('{"badge":0}'), 0);
    for (const other of [
      null,
      '',
      'hi',
      '[]',
      '{"badge":"4"}',
      '{"badge":-1}',
      '{"badge":1.5}',
      '{"badge":4,"title":"x"}',
      '{"count":4}',
      `{"badge":${2 ** 31}}`,
    ]) {
      assert.equal(badgeOfPush(other), null, String(other));
    }
  });

  test('[SDK-21] a badge push sets the badge, clears it at 0, and shows no notification unless asked', async () => {
    const fake = fakeScope();
    const remove = installBadgePushHandler(fake.scope);
    assert.equal(await push(fake, '{"badge":3}'), true);
    assert.equal(await push(fake, '{"badge":0}'), true);
    assert.equal(await push(fake, '{"title":"hello"}'), false, "another sender's push is left to the app");
    assert.equal(await push(fake, null), false);
    assert.deepEqual(fake.calls, ['set 3', 'clear']);
    remove();
    assert.equal(fake.listeners.size, 0);
  });

  test('[SDK-21] a notification when the app asks for one; no Badging API is no error', async () => {
    const fake = fakeScope(false);
    const seen: number[] = [];
    installBadgePushHandler(fake.scope, {
      notification: (badge) => (badge > 0 ? { title: `${badge} unread` } : null),
      onBadge: (badge) => void seen.push(badge),
    });
    await push(fake, '{"badge":2}');
    await push(fake, '{"badge":0}');
    assert.deepEqual(fake.calls, ['notify 2 unread']);
    assert.deepEqual(seen, [2, 0]);
  });

  test('[SDK-21] handleBadgePush answers whether the event was a badge push', () => {
    const fake = fakeScope();
    const event: PushEventLike = { data: { text: () => 'not json' }, waitUntil: () => assert.fail('no work for it') };
    assert.equal(handleBadgePush(fake.scope, event), false);
  });
});
