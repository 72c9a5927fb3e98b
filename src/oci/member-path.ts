/**
 * Validation of tar member names before anything touches the disk. A layer is untrusted input:
 * `../etc/passwd`, `/etc/passwd` or a NUL-truncated name must never reach a path join.
 */
import { IbError } from '../errors.js';
import { display } from './tar-header.js';

/** Linux PATH_MAX; longer names are absurd (and the kernel would refuse them anyway). */
export const MAX_PATH = 4096;

/** A layer refused as malformed or hostile: names the layer and the member. */
export class LayerRefusedError extends IbError {
  constructor(layer: string, member: string | undefined, reason: string) {
    super(`refusing layer ${layer}: ${member === undefined ? '' : `member ${shownMember(member)} `}${reason}`, {
      hint: 'the layer is malformed or hostile; nothing was extracted. Check where the image came from',
    });
  }
}

/** A member name for a message: JSON-quoted, cut at 200 characters (PAX names can be huge). */
export function shownMember(member: string): string {
  const s = display(member);
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
}

/**
 * The components of a member name (`./` and empty components dropped; [] is the layer root).
 * Returns a reason string instead when the name is not acceptable.
 */
export function memberComponents(name: string): string[] | string {
  if (name.includes('\0')) return 'has a NUL byte in its name';
  if (name.length > MAX_PATH) return `has a ${name.length}-byte name, longer than PATH_MAX (${MAX_PATH})`;
  if (name.startsWith('/')) return 'is an absolute path';
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') return 'has a ".." component';
    if (c.length > 255) return 'has a path component longer than 255 bytes';
    out.push(c);
  }
  return out;
}
