/**
 * Choosing one image from an index (`--platform os/arch[/variant]`, default the host's), the way
 * containers/image does: os and architecture must match; a wanted variant must match too, and
 * without one the entry with no variant (or arm64's implied v8) wins.
 */
import { UsageError, IbError } from '../errors.js';
import { hostPlatform, type Descriptor, type Platform } from '../oci/index.js';

export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new UsageError(`invalid platform "${s}"`, { hint: 'use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8' });
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function variantOf(p: Platform): string | undefined {
  return p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
}

/** The index entry for `want` (default: this host), or an error listing what the index offers. */
export function choosePlatform(manifests: readonly Descriptor[], want: Platform = hostPlatform(), what = 'the image'): Descriptor {
  const candidates = manifests.filter((m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture);
  const wantVariant = variantOf(want);
  const exact = candidates.find((m) => variantOf(m.platform!) === wantVariant);
  const pick = exact ?? (want.variant === undefined ? candidates[0] : undefined);
  if (pick) return pick;
  const offered = manifests
    .filter((m) => m.platform && m.platform.os !== 'unknown')
    .map((m) => formatPlatform(m.platform!));
  throw new IbError(`${what} has no ${formatPlatform(want)} image`, {
    hint: offered.length ? `it offers ${offered.join(', ')}; choose one with --platform` : 'its index names no platforms',
  });
}
