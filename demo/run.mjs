#!/usr/bin/env node
/**
 * tokenguard's live demo: the whole lifecycle in one command (`pnpm demo`).
 *
 * A token service rotating its signing key every few seconds, the orders API on Express, Koa and Fastify
 * guarded by tokenguard, and two client services calling them through `@tokenguard/client` — allowed calls and
 * calls refused for scope — with a live summary from the APIs' own metrics. No external service is needed.
 * Ctrl-C (or SIGTERM) closes everything and exits 0; `--duration 20s` stops by itself and exits 1 when any call
 * failed in a way it should not have. `--help` lists the options.
 */
import { parseArgs, USAGE, UsageError } from './lib/args.mjs';
import { startTokenService, rotationTiming, TOKEN_TTL } from './lib/token-service.mjs';
import { startApis } from './lib/apis.mjs';
import { mintToken, startTraffic } from './lib/traffic.mjs';
import { createAuditCounter, renderBlock, renderPlain, takeSnapshot } from './lib/summary.mjs';
import { createScreen } from './lib/screen.mjs';

/** After shutdown, anything still holding the event loop gets this long before the process is ended anyway. */
const EXIT_GRACE_MS = 3000;

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }

  // With --json, stdout carries only the final JSON; the live lines go to stderr.
  const screen = createScreen(args.json ? process.stderr : process.stdout);
  const startedAt = Date.now();
  /** @type {Array<() => Promise<void>>} closed in reverse order */
  const closers = [];
  const timers = [];
  let service;
  let state;
  let traffic;
  let stopping;
  // Shutdown waits for start-up to settle, so a Ctrl-C during start-up still closes whatever got started.
  let markStarted;
  const started = new Promise((resolve) => { markStarted = resolve; });

  const stop = (reason) => {
    stopping ??= shutdown(reason);
    return stopping;
  };
  const onSignal = (signal) => {
    if (stopping) {
      // A second Ctrl-C while shutting down: give up waiting.
      process.stderr.write(`\n${signal} again: exiting now\n`);
      process.exit(130);
    }
    void stop(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `pnpm demo | head` closes the pipe: stop cleanly instead of dying on EPIPE.
  const onOutputError = () => void stop('output closed');
  process.stdout.on('error', onOutputError);
  process.stderr.on('error', onOutputError);

  async function shutdown(reason) {
    await started;
    for (const t of timers) clearInterval(t);
    let snap;
    try {
      if (traffic) {
        await traffic.stop();
        snap = await takeSnapshot(state);
      }
    } finally {
      for (const close of closers.reverse()) await close().catch((err) => process.stderr.write(`close failed: ${err?.message ?? err}\n`));
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (snap) {
      screen.final(renderPlain(snap));
      const verdict = snap.ok
        ? `no failures: ${snap.issuer.signerChangesSeen} key rotation${snap.issuer.signerChangesSeen === 1 ? '' : 's'} seen by the callers, none caused a rejection`
        : `${snap.failures} failed calls, ${snap.rotationFailures} caused by rotation`;
      screen.line(`demo stopped (${reason}) after ${snap.elapsedSeconds}s: ${verdict}`);
      if (args.json) process.stdout.write(`${JSON.stringify({ reason, dataDir: service?.dataDir, resumed: service?.resumed, ...snap }, null, 2)}\n`);
    } else {
      screen.line(`demo stopped (${reason}) before it started`);
    }
    // Ctrl-C is a clean stop (exit 0); a timed run is a check: it fails when a call failed.
    process.exitCode = reason === 'duration' && snap && !snap.ok ? 1 : 0;
    // Everything is closed, so the process ends by itself; if a handle lingers, say which and end it anyway.
    setTimeout(() => {
      process.stderr.write(`still open after shutdown: ${process.getActiveResourcesInfo().join(', ')}; exiting\n`);
      process.exit(process.exitCode);
    }, EXIT_GRACE_MS).unref();
  }

  const timing = rotationTiming(args.rotateEverySeconds, args.prePublish);
  const audit = createAuditCounter();
  let startupError;
  try {
    service = await startTokenService({ dataDir: args.dataDir, fresh: args.fresh, port: args.ports.issuer, timing });
    closers.push(() => service.close());
    // Both clients must get a token before anything else starts: a clear error beats a screen full of failures.
    await Promise.all(['reader', 'writer'].map((id) => mintToken(service.tokenUrl, id, service.secrets[id], 'orders:read').catch((err) => {
      throw new Error(`the token service at ${service.url} gives client "${id}" no token: ${err?.cause?.message ?? err?.message ?? err}`);
    })));
    const apis = await startApis({ issuer: service.url, jwks: timing.jwks }, args.ports, audit.onEvent);
    for (const api of apis) closers.push(() => api.close());
    if (!stopping) {
      screen.line(`tokenguard demo: token service ${service.url} (data folder ${service.dataDir}, ${service.resumed ? 'resumed' : 'new'}), ` +
        `signing key rotates every ${timing.rotateEvery} (published ${timing.prePublish} ahead; APIs refresh keys every ${timing.jwks.cacheMaxAge})`);
      if (!args.prePublish) screen.line('--no-prepublish: new keys sign at once and the APIs cache keys for 10 minutes, so rotations WILL fail');
      // The line scripts wait for (the live block of a terminal repeats it).
      screen.line(`metrics: ${apis.map((a) => `${a.framework}=${a.metricsUrl}`).join(' ')} issuer=${service.url}/metrics`);
      traffic = startTraffic({ tokenUrl: service.tokenUrl, secrets: service.secrets, apis, rate: args.rate });
      state = { apis, issuer: { url: service.url }, traffic, audit, startedAt, last: undefined };
    }
  } catch (err) {
    startupError = err;
  } finally {
    markStarted();
  }
  if (startupError !== undefined) {
    process.stderr.write(`demo failed to start: ${process.env.DEMO_DEBUG ? startupError?.stack : (startupError?.message ?? startupError)}\n`);
    await stop('startup failure');
    process.exitCode = 1;
    return;
  }
  if (stopping) return;

  const curlLines = () => {
    const token = traffic.probe.lastToken;
    if (!args.curl || token === undefined) return [];
    const api = state.apis[0];
    return [
      `try it (reader token, minted ${Math.round((Date.now() - traffic.probe.lastMintedAt) / 1000)}s ago, lives ${TOKEN_TTL}):`,
      `  curl -i -H 'Authorization: Bearer ${token}' ${api.url}/orders`,
      `  (add -X POST for a 403 insufficient_scope; /metrics needs no token)`,
    ];
  };

  let busy = false;
  let curlShown = false;
  const refresh = async () => {
    if (busy || stopping) return;
    busy = true;
    try {
      const snap = await takeSnapshot(state);
      state.last = snap;
      if (stopping) return;
      if (screen.tty) {
        screen.draw([...renderBlock(snap), '', `metrics: ${snap.frameworks.map((f) => `${f.framework}=${f.metricsUrl}`).join(' ')} issuer=${snap.issuer.metricsUrl}`, ...curlLines()]);
      } else {
        if (!curlShown && traffic.probe.lastToken !== undefined) {
          for (const l of curlLines()) screen.line(l);
          curlShown = true;
        }
        for (const l of renderPlain(snap)) screen.line(l);
      }
    } catch (err) {
      screen.line(`summary failed: ${err?.message ?? err}`);
    } finally {
      busy = false;
    }
  };
  timers.push(setInterval(() => void refresh(), screen.tty ? 1000 : 2000));
  if (args.durationSeconds !== undefined) timers.push(setTimeout(() => void stop('duration'), args.durationSeconds * 1000));
}

process.on('unhandledRejection', (err) => {
  process.stderr.write(`demo: unhandled rejection: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
});

await main();
