// Where an ib run's time goes, from the two things node and ib already write:
//   node bench/profile.mjs EVENTS.jsonl [RUN.cpuprofile]
// EVENTS.jsonl is ib's stderr under --json: every phase and step with its seconds. The
// .cpuprofile comes from `node --cpu-prof --cpu-prof-dir=DIR dist/cli/main.js …` and covers the ib
// process only (mmdebstrap, dpkg, mksquashfs … are other processes: their time shows as idle).
import { readFileSync } from 'node:fs';

const [eventsFile, profFile] = process.argv.slice(2);
if (!eventsFile) {
  console.error('usage: node bench/profile.mjs EVENTS.jsonl [RUN.cpuprofile]');
  process.exit(2);
}

const events = readFileSync(eventsFile, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const t0 = events[0]?.ts ?? 0;
const t1 = events.at(-1)?.ts ?? 0;
console.log(`## ${eventsFile}: ${(t1 - t0).toFixed(1)} s from the first event to the last\n`);
console.log('| what | seconds | started at |');
console.log('| --- | --- | --- |');
const open = new Map();
for (const e of events) {
  const name = e.event === 'phase' ? `phase: ${e.name}` : e.step ? `step: ${e.step}` : undefined;
  if (!name) continue;
  if (e.event === 'step-started' || e.state === 'started') open.set(name, e.ts);
  const done = e.event === 'step-finished' || e.event === 'step-cached' || e.state === 'finished';
  if (done) {
    const secs = e.seconds ?? (open.has(name) ? e.ts - open.get(name) : 0);
    console.log(`| ${name}${e.event === 'step-cached' ? ' (cached)' : ''} | ${secs.toFixed(2)} | +${((open.get(name) ?? e.ts) - t0).toFixed(1)} s |`);
  }
}

if (profFile) {
  const prof = JSON.parse(readFileSync(profFile, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const n = byId.get(prof.samples[i]);
    const dt = (prof.timeDeltas[i] ?? 0) / 1e6;
    total += dt;
    const f = n.callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const idle = (self.get('(idle)') ?? 0) + (self.get('(program)') ?? 0);
  console.log(`\n## ${profFile}: ${total.toFixed(1)} s profiled, ${(total - idle).toFixed(1)} s on the CPU in the ib process (the rest is waiting on child processes and I/O)\n`);
  console.log('| function | self seconds | share of on-CPU |');
  console.log('| --- | --- | --- |');
  const top = [...self.entries()].filter(([k]) => k !== '(idle)' && k !== '(program)').sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 20));
  for (const [k, v] of top) console.log(`| ${k} | ${v.toFixed(2)} | ${((100 * v) / (total - idle || 1)).toFixed(1)} % |`);
}
