/** Aborted on SIGINT/SIGTERM by the CLI: every running child gets SIGTERM, then SIGKILL. */
export const shutdown = new AbortController();
