import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, test } from 'vitest';
import * as Y from 'yjs';
import type { FileReplica } from '../src/storage/file-replica.js';
import { FileStorage } from '../src/storage/file-storage.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';
import { decodeRecords, encodeRecord, fileNameFor, RecordKind } from '../src/storage/update-log.js';
import { storageContract } from './storage-contract.js';

const root = mkdtempSync(path.join(tmpdir(), 'badgesync-client-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function fail(err: Error): void {
  throw err;
}

describe('MemoryStorage', () => {
  const places = new Map<string, MemoryStorage>();
  storageContract('MemoryStorage', {
    make(place) {
      let storage = places.get(place);
      if (storage === undefined) {
        storage = new MemoryStorage();
        places.set(place, storage);
      }
      return storage;
    },
  });
});

describe('FileStorage', () => {
  storageContract('FileStorage', { make: (place) => new FileStorage(path.join(root, 'contract', place)) });

  test('[SDK-7] the file is compacted into one snapshot (atomically) once it holds compactEvery records', async () => {
    const storage = new FileStorage(path.join(root, 'compact'), { compactEvery: 50 });
    const doc = new Y.Doc();
    const replica = (await storage.open('acct', doc, fail)) as FileReplica;
    await replica.saveMeta({ deviceId: 'd', syncedOnce: true, pending: [] });
    for (let i = 1; i <= 120; i++) doc.getMap('reads').set('inbox/d', i);
    assert.ok(replica.records < 50, `${replica.records} records after compaction`);
    assert.deepEqual(
      readdirSync(path.join(root, 'compact')),
      [fileNameFor('acct'), `${fileNameFor('acct')}.lock`],
      'no temp file left; the lock while open',
    );
    await replica.close();
    const again = new Y.Doc();
    const reopened = await storage.open('acct', again, fail);
    assert.equal(again.getMap('reads').get('inbox/d'), 120);
    assert.deepEqual(
      reopened.meta,
      { deviceId: 'd', syncedOnce: true, pending: [] },
      'metadata kept through compaction',
    );
    await reopened.close();
  });

  test('[SDK-7] a torn last record (crash mid-append) is cut off; everything before it loads', async () => {
    const storage = new FileStorage(path.join(root, 'torn'));
    const doc = new Y.Doc();
    const replica = await storage.open('acct', doc, fail);
    doc.getMap('heads').set('inbox', 7);
    await replica.close();
    const file = storage.pathOf('acct');
    const whole = statSync(file).size;
    const torn = encodeRecord(RecordKind.update, new Uint8Array(40)).subarray(0, 20);
    writeFileSync(file, Buffer.concat([readFileSync(file), torn]));
    const again = new Y.Doc();
    const reopened = await storage.open('acct', again, fail);
    assert.equal(again.getMap('heads').get('inbox'), 7);
    assert.equal(statSync(file).size, whole, 'truncated back to the last whole record');
    again.getMap('heads').set('news', 1);
    await reopened.close();
    const third = new Y.Doc();
    await (await storage.open('acct', third, fail)).close();
    assert.deepEqual(third.getMap('heads').toJSON(), { inbox: 7, news: 1 }, 'appends after the cut load too');
  });

  test('[SDK-7] an unreadable file is set aside and the replica starts empty (a fresh install)', async () => {
    const folder = path.join(root, 'corrupt');
    const storage = new FileStorage(folder);
    const doc = new Y.Doc();
    const replica = await storage.open('acct', doc, fail);
    doc.getMap('heads').set('inbox', 7);
    await replica.saveMeta({ deviceId: 'd', syncedOnce: true, pending: [] });
    await replica.close();
    const garbage = encodeRecord(RecordKind.update, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02]));
    writeFileSync(storage.pathOf('acct'), Buffer.concat([readFileSync(storage.pathOf('acct')), garbage]));
    const errors: Error[] = [];
    const again = new Y.Doc();
    const reopened = await storage.open('acct', again, (err) => errors.push(err));
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? '', /set aside/);
    assert.equal(reopened.meta, null, 'not "synced once": writes wait for a sync');
    assert.equal(again.getMap('heads').size, 0);
    assert.equal(readdirSync(folder).filter((name) => name.includes('.corrupt-')).length, 1);
    await reopened.close();
  });

  test('[SDK-12] the lock file holds the pid; a lock of a dead process is stale and taken over', async () => {
    const storage = new FileStorage(path.join(root, 'stale'));
    const held = await storage.open('acct', new Y.Doc(), fail);
    const lock = `${storage.pathOf('acct')}.lock`;
    assert.equal(readFileSync(lock, 'utf8'), String(process.pid));
    await held.close();
    assert.equal(existsSync(lock), false, 'released at close');

    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    assert.ok(dead !== undefined && dead > 0);
    writeFileSync(lock, String(dead));
    const takeover = await storage.open('acct', new Y.Doc(), fail);
    assert.equal(takeover.exclusive, true, `the lock of dead pid ${dead} is stale`);
    assert.equal(readFileSync(lock, 'utf8'), String(process.pid));
    await takeover.close();

    // A live process (the test runner's parent) holds it: not stale.
    writeFileSync(lock, String(process.ppid));
    const beside = await storage.open('acct', new Y.Doc(), fail);
    assert.equal(beside.exclusive, false);
    await beside.close();
    assert.equal(readFileSync(lock, 'utf8'), String(process.ppid), "another process's lock is left alone");
    rmSync(lock);
  });

  test('[SDK-12] only the holder compacts: another instance appends and never rewrites the file', async () => {
    const storage = new FileStorage(path.join(root, 'holder-compacts'), { compactEvery: 10 });
    const holderDoc = new Y.Doc();
    const holder = (await storage.open('acct', holderDoc, fail)) as FileReplica;
    const otherDoc = new Y.Doc();
    const other = (await storage.open('acct', otherDoc, fail)) as FileReplica;
    for (let i = 1; i <= 30; i++) otherDoc.getArray('v2/device/d').push([{ key: `t${i}`, val: i }]);
    assert.equal(other.records, 30, 'no compaction by the instance without the lock');
    await Promise.all([holder.close(), other.close()]);
    const again = new Y.Doc();
    await (await storage.open('acct', again, fail)).close();
    assert.equal(again.getArray('v2/device/d').length, 30);
  });

  test('opening an account whose folder does not exist creates it', async () => {
    const folder = path.join(root, 'deep', 'er');
    const replica = await new FileStorage(folder).open('x', new Y.Doc(), fail);
    assert.ok(existsSync(folder));
    await replica.close();
  });

  test('refuses a compactEvery below 2', () => {
    assert.throws(() => new FileStorage(root, { compactEvery: 1 }), RangeError);
  });
});

describe('update log records', () => {
  test('[SDK-7] decodes from raw bytes: kind, little-endian length, payload', () => {
    const bytes = new Uint8Array([1, 3, 0, 0, 0, 0xaa, 0xbb, 0xcc, 2, 1, 0, 0, 0, 0x7b]);
    const { records, validLength } = decodeRecords(bytes);
    assert.equal(validLength, bytes.length);
    assert.deepEqual(
      records.map((r) => [r.kind, [...r.payload]]),
      [
        [RecordKind.update, [0xaa, 0xbb, 0xcc]],
        [RecordKind.meta, [0x7b]],
      ],
    );
    assert.deepEqual(
      [...encodeRecord(RecordKind.update, new Uint8Array([0xaa, 0xbb, 0xcc]))],
      [...bytes.subarray(0, 8)],
    );
  });

  test('stops at a short header, a short payload, or an unknown kind', () => {
    assert.equal(decodeRecords(new Uint8Array([1, 0, 0])).validLength, 0);
    assert.equal(decodeRecords(new Uint8Array([1, 5, 0, 0, 0, 1, 2])).validLength, 0);
    const unknown = new Uint8Array([1, 0, 0, 0, 0, 9, 0, 0, 0, 0]);
    assert.deepEqual(decodeRecords(unknown).validLength, 5);
  });

  test('file names: IDs that are not plain names are escaped', () => {
    assert.equal(fileNameFor('alice_1-x'), 'alice_1-x.bsync');
    assert.equal(fileNameFor('..'), '%2E%2E.bsync');
    assert.equal(fileNameFor('a:b@c.d'), 'a%3Ab%40c%2Ed.bsync');
  });
});
