#!/usr/bin/env node
/**
 * The `ib` command: parses, calls the library, renders. Exit codes: 0 ok, 1 failure, 2 usage.
 */
import { Command, CommanderError } from 'commander';
import { hintOf, IbError, messageChain } from '../errors.js';
import { shutdown } from '../exec/shutdown.js';
import { logger } from '../log.js';
import { registerBuildCommands } from './build-commands.js';
import { registerDerive } from './derive.js';
import { registerDiff } from './diff.js';
import { registerDoctor } from './doctor.js';
import { registerInternal, registerInternalFlatten, registerInternalOstree } from './internal.js';
import { registerMediaCommands } from './media-commands.js';
import { registerOstreeCommands } from './ostree-commands.js';
import { registerRegistryCommands } from './registry-commands.js';
import { registerStoreCommands } from './store-commands.js';

export interface GlobalOptions {
  json?: boolean;
  quiet?: boolean;
  debug?: boolean;
  cacheDir?: string;
  store?: string;
}

function printError(err: unknown): number {
  const chain = messageChain(err);
  const hint = hintOf(err);
  process.stderr.write(`error: ${chain.join(': ')}\n`);
  if (hint) process.stderr.write(`hint: ${hint}\n`);
  if (logger.debug && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  if (err instanceof IbError) return err.exitCode;
  return 1;
}

export function makeProgram(): Command {
  const program = new Command('ib')
    .description('Build bootable operating-system images the way people build containers')
    .version('0.1.0')
    .option('--json', 'progress as one JSON event per line on stderr')
    .option('-q, --quiet', 'only errors and results')
    .option('--debug', 'show every command ib runs, and stacks on errors')
    .option('--cache-dir <dir>', 'cache directory (default $XDG_CACHE_HOME/ib)')
    .option('--store <dir>', 'local store (OCI layout; default <cache-dir>/store)')
    .showHelpAfterError()
    .exitOverride()
    .hook('preAction', (cmd) => {
      const o = cmd.optsWithGlobals() as GlobalOptions;
      logger.json = !!o.json;
      logger.quiet = !!o.quiet;
      logger.debug = !!o.debug;
      if (o.cacheDir) process.env.IB_CACHE_DIR = o.cacheDir;
    });
  registerDoctor(program);
  registerBuildCommands(program);
  registerDerive(program);
  registerDiff(program);
  registerStoreCommands(program);
  registerMediaCommands(program);
  registerRegistryCommands(program);
  registerOstreeCommands(program);
  registerInternal(program);
  registerInternalFlatten(program);
  registerInternalOstree(program);
  return program;
}

async function main(): Promise<void> {
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\nib: ${sig}, stopping…\n`);
    shutdown.abort(new IbError(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed terminal (or ssh session): without a handler ib died at once and its isolated step
  // (unshare, apt, dpkg) ran on, orphaned.
  process.on('SIGHUP', onSignal);
  const program = makeProgram();
  try {
    await program.parseAsync(process.argv);
    if (interrupted) process.exitCode = 130;
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    const code = printError(err);
    process.exitCode = interrupted ? 130 : code;
  }
}

await main();
// Keep-alive sockets (mirror and registry connections) would hold the process open for seconds.
process.exit();
