// Memory of the verified-token cache: heap growth after global.gc() with 10,000 cached RS256 tokens, and again
// after 10,000 more distinct tokens (the cache is bounded, so the heap must not keep growing).
// Run with --expose-gc (run.mjs does). Tokens are held as Buffers (outside the JS heap) until each is
// verified, so whatever the cache keeps of a token string counts as growth, as it would in a server. Each token
// arrives as in a server: an Authorization header value of its own, read by verifyRequest() (the cached token is
// a slice of that string, and the cache also keeps the value itself for its header fast path).
import { Registry } from 'prom-client';
import { parseArgs, tokenguardInfo, exitWithParent, reportAndExit } from './lib/common.mjs';
import { ISSUER, AUDIENCE, makeKey, signTokens } from './lib/tokens.mjs';

exitWithParent();
const args = parseArgs(process.argv.slice(2));
const N = Number(args.tokens ?? 10_000);

function heap() {
  for (let i = 0; i < 3; i++) globalThis.gc();
  return process.memoryUsage();
}

/** Sum of a metric's samples whose labels include `label`, read back from the Prometheus text exposition. */
function sumSamples(text, name, label) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(label)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function verifyAll(v, bufs) {
  let next = 0;
  const worker = async () => {
    while (next < bufs.length) {
      const value = bufs[next++].toString('latin1');
      await v.verifyRequest({ headers: { authorization: value }, rawHeaders: ['Authorization', value], method: 'GET', url: '/' });
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

async function main() {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  const tg = await tokenguardInfo();
  if (!tg.available) return { available: false, reason: tg.reason };
  const key = await makeKey('RS256');
  const header = (t) => Buffer.from(`Bearer ${t}`, 'latin1');
  const first = (await signTokens(key, N, { prefix: 'm1' })).map(header);
  const second = (await signTokens(key, N, { prefix: 'm2' })).map(header);
  const primer = (await signTokens(key, 1, { prefix: 'm0' }))[0];
  const registry = new Registry();
  const v = tg.core.createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, keys: { keys: [key.jwk] }, algorithms: ['RS256'], metrics: { registry } });
  await v.verify(primer);
  const h0 = heap();
  await verifyAll(v, first);
  const h1 = heap();
  const hitsBefore = sumSamples(await registry.metrics(), 'tokenguard_verify_duration_seconds_count', 'cache="hit"');
  await verifyAll(v, first);
  const hits = sumSamples(await registry.metrics(), 'tokenguard_verify_duration_seconds_count', 'cache="hit"') - hitsBefore;
  await verifyAll(v, second);
  const h2 = heap();
  await v.close();
  const MiB = 2 ** 20;
  return {
    available: true,
    tokens: N,
    tokenChars: first[0].length - 'Bearer '.length,
    growth10kMiB: (h1.heapUsed - h0.heapUsed) / MiB,
    growthAfter2xMiB: (h2.heapUsed - h0.heapUsed) / MiB,
    bytesPerEntry: (h1.heapUsed - h0.heapUsed) / N,
    externalGrowthMiB: (h1.external - h0.external) / MiB,
    rssGrowthMiB: (h1.rss - h0.rss) / MiB,
    cacheHitsOnSecondPass: hits,
    heapBaseMiB: h0.heapUsed / MiB,
  };
}

reportAndExit(main());
