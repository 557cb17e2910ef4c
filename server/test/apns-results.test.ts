/** Every row of Apple's answer table, and the transport failures, mapped to a SendResult. */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { resultOfApnsAnswer, resultOfTransportError } from '../src/push/apns-results.js';
import type { SendResult } from '../src/push/push-sender.js';

describe('resultOfApnsAnswer', () => {
  const table: readonly [status: number, reason: string, timestamp: number | undefined, expected: SendResult][] = [
    [
      410,
      'Unregistered',
      1_700_000_000_000,
      { kind: 'invalid-token', reason: 'Unregistered', timestamp: 1_700_000_000_000 },
    ],
    [410, 'Unregistered', undefined, { kind: 'invalid-token', reason: 'Unregistered' }],
    [
      410,
      'ExpiredToken',
      1_700_000_000_000,
      { kind: 'invalid-token', reason: 'ExpiredToken', timestamp: 1_700_000_000_000 },
    ],
    [400, 'BadDeviceToken', undefined, { kind: 'invalid-token', reason: 'BadDeviceToken' }],
    // apns2 puts `timestamp: now` on answers it could not parse; only a 410's timestamp means anything.
    [400, 'DeviceTokenNotForTopic', 1_700_000_000_000, { kind: 'invalid-token', reason: 'DeviceTokenNotForTopic' }],
    [403, 'InvalidProviderToken', undefined, { kind: 'provider-token', reason: 'InvalidProviderToken' }],
    [403, 'MissingProviderToken', undefined, { kind: 'provider-token', reason: 'MissingProviderToken' }],
    [403, 'Forbidden', undefined, { kind: 'provider-token', reason: 'Forbidden' }],
    [403, 'BadCertificateEnvironment', undefined, { kind: 'provider-token', reason: 'BadCertificateEnvironment' }],
    [429, 'TooManyRequests', undefined, { kind: 'retry', reason: 'TooManyRequests' }],
    [429, 'TooManyProviderTokenUpdates', undefined, { kind: 'retry', reason: 'TooManyProviderTokenUpdates' }],
    [500, 'InternalServerError', undefined, { kind: 'retry', reason: 'InternalServerError' }],
    [503, 'ServiceUnavailable', undefined, { kind: 'retry', reason: 'ServiceUnavailable' }],
    [503, 'Shutdown', undefined, { kind: 'retry', reason: 'Shutdown' }],
    [502, 'UnknownError', 1, { kind: 'retry', reason: 'UnknownError' }],
    [400, 'IdleTimeout', undefined, { kind: 'retry', reason: 'IdleTimeout' }],
    [400, 'BadTopic', undefined, { kind: 'failed', reason: 'BadTopic' }],
    [400, 'TopicDisallowed', undefined, { kind: 'failed', reason: 'TopicDisallowed' }],
    [400, 'BadCollapseId', undefined, { kind: 'failed', reason: 'BadCollapseId' }],
    [400, 'BadPriority', undefined, { kind: 'failed', reason: 'BadPriority' }],
    [404, 'BadPath', undefined, { kind: 'failed', reason: 'BadPath' }],
    [405, 'MethodNotAllowed', undefined, { kind: 'failed', reason: 'MethodNotAllowed' }],
    [413, 'PayloadTooLarge', undefined, { kind: 'failed', reason: 'PayloadTooLarge' }],
    [418, '', undefined, { kind: 'failed', reason: 'HTTP 418' }],
  ];
  for (const [status, reason, timestamp, expected] of table) {
    test(`${status} ${reason || '(no reason)'}${timestamp === undefined ? '' : ' with timestamp'} → ${expected.kind}`, () => {
      assert.deepEqual(resultOfApnsAnswer(status, reason, timestamp), expected);
    });
  }
});

describe('resultOfTransportError', () => {
  const coded = (code: string, cause?: unknown) => Object.assign(new Error(code), { code }, cause ? { cause } : {});
  test('undici timeouts → retry Timeout / ConnectTimeout', () => {
    assert.deepEqual(resultOfTransportError(coded('UND_ERR_HEADERS_TIMEOUT')), { kind: 'retry', reason: 'Timeout' });
    assert.deepEqual(resultOfTransportError(coded('UND_ERR_BODY_TIMEOUT')), { kind: 'retry', reason: 'Timeout' });
    assert.deepEqual(resultOfTransportError(coded('UND_ERR_CONNECT_TIMEOUT')), {
      kind: 'retry',
      reason: 'ConnectTimeout',
    });
  });
  test('a closed pool → retry SenderClosed', () => {
    assert.deepEqual(resultOfTransportError(coded('UND_ERR_CLOSED')), { kind: 'retry', reason: 'SenderClosed' });
    assert.deepEqual(resultOfTransportError(coded('UND_ERR_DESTROYED')), { kind: 'retry', reason: 'SenderClosed' });
  });
  test('TLS trust failures → retry "TLS: <code>"', () => {
    for (const code of [
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'ERR_TLS_CERT_ALTNAME_INVALID',
    ]) {
      assert.deepEqual(resultOfTransportError(coded(code)), { kind: 'retry', reason: `TLS: ${code}` });
    }
  });
  test('socket errors → retry "Network: <code>", looking through `cause`', () => {
    assert.deepEqual(resultOfTransportError(coded('ECONNRESET')), { kind: 'retry', reason: 'Network: ECONNRESET' });
    const wrapped = new Error('fetch failed', { cause: coded('ECONNREFUSED') });
    assert.deepEqual(resultOfTransportError(wrapped), { kind: 'retry', reason: 'Network: ECONNREFUSED' });
  });
  test('anything without an error code → retry "Unexpected: …" (the sender logs it loudly)', () => {
    assert.deepEqual(resultOfTransportError(new TypeError('boom')), {
      kind: 'retry',
      reason: 'Unexpected: TypeError: boom',
    });
    assert.deepEqual(resultOfTransportError('weird'), { kind: 'retry', reason: 'Unexpected: weird' });
  });
});
