/**
 * Paths whose new content never belongs in a layer: caches, logs, locks and per-machine identity
 * that apt, dpkg and systemd leave behind. Without this rule the htop step of HOWTO-BOOT §9 is an
 * 85 MB layer (83 MB of apt lists) instead of 1.3 MB, and two builds of one recipe differ (logs
 * carry timestamps).
 *
 * The rule, applied identically by capture and scan-diff:
 * - Only *content* is noise: a regular file, symlink or special file that is new or changed at a
 *   noise path is left out of the layer, so whatever the layers below have there shows through.
 * - A *deletion* is never noise: a whiteout at a noise path whose lower exists is kept, because the
 *   file really is gone (a step that cleans apt lists must make them disappear).
 * - Directories are never noise (var/lib/apt/lists/partial must stay, or apt fails).
 * - /etc/machine-id is truncated instead of dropped: an empty file is what first boot needs.
 */

export type NoiseAction = 'drop' | 'truncate';

const DROP: RegExp[] = [
  // Lists and their partial downloads; `lists/lock` is kept as apt leaves it in a fresh tree.
  /^var\/lib\/apt\/lists\/(?!lock$).+$/,
  /^var\/cache\/apt\/[^/]+\.bin$/,
  /^var\/cache\/apt\/archives\/[^/]+\.deb$/,
  /^var\/cache\/apt\/archives\/partial\/.+$/,
  /^var\/cache\/apt\/archives\/lock$/,
  /^var\/cache\/debconf\/[^/]+-old$/,
  /^var\/cache\/ldconfig\/aux-cache$/,
  /^var\/log\/dpkg\.log$/,
  /^var\/log\/alternatives\.log$/,
  /^var\/log\/apt\/.+$/,
  /^var\/lib\/dpkg\/status-old$/,
  /^var\/lib\/dpkg\/lock[^/]*$/,
  /^var\/lib\/systemd\/random-seed$/,
  /^etc\/ssh\/ssh_host_[^/]+$/,
];

/** What to do with new or changed non-directory content at `rel` (a path relative to the root). */
export function noiseAction(rel: string): NoiseAction | undefined {
  if (rel === 'etc/machine-id') return 'truncate';
  return DROP.some((r) => r.test(rel)) ? 'drop' : undefined;
}
