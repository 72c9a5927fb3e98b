import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { run } from '../exec/run.js';
import { decodeBlock, decodePax, encodeHeader, encodePax, parseNumber, type TarHeader } from './tar-header.js';
import { readTar } from './tar-reader.js';
import { tarStream } from './tar-writer.js';

async function roundTrip(headers: TarHeader[]): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  const entries = headers.map((header) => ({ header, body: async function* () { yield Buffer.alloc(header.size, 0x61); } }));
  for await (const e of readTar(tarStream(entries))) {
    for await (const _ of e.body) void _;
    out.push(e.header);
  }
  return out;
}

const base: TarHeader = { name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1700000000 };

describe('PAX codec', () => {
  test('record lengths count their own digits, across the 9→10 and 99→100 boundaries', () => {
    for (let n = 0; n < 300; n++) {
      const rec = encodePax(new Map([['k', Buffer.alloc(n, 0x78)]]));
      expect(Number(rec.toString('latin1').split(' ')[0])).toBe(rec.length);
      expect(decodePax(rec).get('k')!.length).toBe(n);
    }
  });

  test('values are bytes: every byte value survives both ways', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const m = decodePax(encodePax(new Map([['SCHILY.xattr.security.capability', all], ['path', Buffer.from('caf\xe9', 'latin1')]])));
    expect(m.get('SCHILY.xattr.security.capability')).toEqual(all);
    expect(m.get('path')).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
  });

  test('malformed records are errors, not guesses', () => {
    expect(() => decodePax(Buffer.from('5 a=b\n'))).toThrow('PAX record does not end with a newline');
    expect(() => decodePax(Buffer.from('x a=b\n'))).toThrow('malformed PAX record length "x"');
    expect(() => decodePax(Buffer.from('6 abc\n'))).toThrow('PAX record has no "="');
  });
});

describe('ustar fields', () => {
  test('base-256 numbers, positive and negative', () => {
    const b = Buffer.alloc(12);
    b[0] = 0x80;
    b.writeUIntBE(2 ** 40, 6, 6);
    expect(parseNumber(b, 0, 12, 'size')).toBe(2 ** 40);
    expect(parseNumber(Buffer.alloc(12, 0xff), 0, 12, 'size')).toBe(-1);
    expect(() => parseNumber(Buffer.from('12x\0'), 0, 4, 'mode')).toThrow('mode is not an octal number: "12x"');
  });

  test('a corrupt checksum is detected', () => {
    const h = encodeHeader(base);
    h[0] = 0x67;
    expect(() => decodeBlock(h)).toThrow('header checksum mismatch');
  });
});

describe('tar writer + reader', () => {
  test('long names and links, huge ids and sizes, xattrs go through PAX and come back', async () => {
    const long = 'd/'.repeat(120) + 'f';
    const hs: TarHeader[] = [
      { ...base, name: long, size: 3, xattrs: { 'user.a': Buffer.from([0, 255]) } },
      { ...base, name: 's', type: 'symlink', linkname: 'x'.repeat(300) },
      { ...base, name: 'big-ids', uid: 3_000_000, gid: 2 ** 31 },
      { ...base, name: 'dir', type: 'dir', mode: 0o1777 },
      { ...base, name: 'dev', type: 'block', devmajor: 8, devminor: 1 },
    ];
    const back = await roundTrip(hs);
    expect(back.map((h) => [h.name, h.type, h.size, h.uid, h.gid, h.mode, h.linkname])).toEqual(hs.map((h) => [h.name, h.type, h.size, h.uid, h.gid, h.mode, h.linkname]));
    expect(back[0]!.xattrs).toEqual({ 'user.a': Buffer.from([0, 255]) });
    expect(back[4]).toMatchObject({ devmajor: 8, devminor: 1 });
  });

  test('a size past 8 GiB is written as PAX size (header only checked)', () => {
    const h = encodeHeader({ ...base, size: 9 * 1024 ** 3 });
    expect(h.length).toBe(3 * 512);
    expect(decodePax(h.subarray(512, 1024)).get('size')!.toString()).toBe(String(9 * 1024 ** 3));
  });

  test.each(['gnu', 'posix', 'ustar'])('reads what GNU tar writes (--format=%s)', async (format) => {
    const dir = await mkdtemp(join(tmpdir(), 'ib-tar-'));
    try {
      const name = 'n'.repeat(90) + '/' + 'm'.repeat(90);
      await mkdir(join(dir, 'src', 'n'.repeat(90)), { recursive: true });
      await writeFile(join(dir, 'src', name), 'payload\n');
      await run('ln', ['-s', 'l'.repeat(150), join(dir, 'src', 'sym')]);
      const r = await run('tar', ['-C', join(dir, 'src'), `--format=${format}`, '--numeric-owner', '-cf', '-', '.'], { binary: true, allowFailure: true });
      const got: [string, string, string][] = [];
      for await (const e of readTar(Readable.from([r.stdoutBuffer!]))) {
        const parts: Buffer[] = [];
        for await (const c of e.body) parts.push(c);
        got.push([e.header.name, e.header.type, e.header.type === 'symlink' ? e.header.linkname! : Buffer.concat(parts).toString()]);
      }
      expect(got).toContainEqual([`./${name}`, 'file', 'payload\n']);
      // ustar cannot hold a 150-byte link target: GNU tar truncates it to 100 (and exits 2).
      expect(got).toContainEqual(['./sym', 'symlink', 'l'.repeat(format === 'ustar' ? 100 : 150)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
