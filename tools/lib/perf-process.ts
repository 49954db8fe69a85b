import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';
import { onCpus } from './perf-cpus';

/** A server started by a performance tool, stopped by it at the end. */
export interface ChildServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** The repository root, from dist/tools/lib or tools/lib. */
export const ROOT = join(
  __dirname,
  __dirname.includes(`${join('dist', 'tools')}`) ? '../../..' : '../..',
);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls url until it answers 200, the child exits, or the timeout passes. */
export async function waitForOk(
  url: string,
  child: ChildProcess,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? -1;
  });
  while (Date.now() < deadline) {
    if (exited !== null) {
      throw new Error(`server exited with code ${exited} before becoming healthy`);
    }
    try {
      const res = await fetch(url);
      if (res.status === 200) {
        await res.arrayBuffer();
        return;
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
}

/**
 * The node flags `npm start` gives the service in the build under `root`: the words between
 * `node` and the script in its package.json's `start` (none for a build whose start has
 * none, or a folder holding only dist/), so the bench runs each build as its own `npm start`
 * does.
 */
export function serviceNodeFlags(root: string): string[] {
  const file = join(root, 'package.json');
  if (!existsSync(file)) {
    return [];
  }
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { scripts?: { start?: string } };
  const words = (pkg.scripts?.start ?? '').trim().split(/\s+/);
  const script = words.indexOf('dist/src/main.js');
  if (words[0] !== 'node' || script < 0) {
    throw new Error(`${root}/package.json: "start" is not "node [flags] dist/src/main.js"`);
  }
  return words.slice(1, script);
}

/**
 * Starts the built service (dist/src/main.js under root) with the given environment, and
 * the node flags of its `npm start` (serviceNodeFlags); nodeArgs go to node after them,
 * before the script (e.g. --cpu-prof); `cpus`, a taskset CPU list, pins the process and all
 * its threads to those CPUs (see perf-cpus). `stdout`, an open file descriptor, receives
 * what the service prints there (e.g. node's --trace-gc); without it that is dropped.
 */
export async function startService(
  env: Record<string, string>,
  root = ROOT,
  nodeArgs: string[] = [],
  cpus: string | null = null,
  stdout: number | null = null,
): Promise<ChildServer> {
  const port = await freePort();
  const stderr: string[] = [];
  const [command, args] = onCpus(cpus, process.execPath, [
    ...serviceNodeFlags(root),
    ...nodeArgs,
    join(root, 'dist', 'src', 'main.js'),
  ]);
  const child = spawn(command, args, {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', stdout ?? 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    if (process.env.PERF_SERVICE_LOG === '1') {
      process.stderr.write(chunk);
    }
    stderr.push(chunk.toString());
    if (stderr.length > 50) {
      stderr.shift();
    }
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForOk(`${url}/health`, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderr.join('')}`);
  }
  return { url, pid: child.pid ?? 0, stop: stopper(child) };
}

/**
 * Starts a reference server of dist/tools/lib (`node <script> <port> ...args`) as a child
 * process, on `cpus` when given, and waits until its /health answers.
 */
async function startReference(
  script: string,
  args: string[],
  nodeArgs: string[],
  cpus: string | null,
): Promise<ChildServer> {
  const port = await freePort();
  const path = join(ROOT, 'dist', 'tools', 'lib', script);
  const [command, commandArgs] = onCpus(cpus, process.execPath, [
    ...nodeArgs,
    path,
    String(port),
    ...args,
  ]);
  const child = spawn(command, commandArgs, {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForOk(`${url}/health`, child);
  return { url, pid: child.pid ?? 0, stop: stopper(child) };
}

/** Starts the bare Fastify reference server as a child process. */
export async function startBareServer(nodeArgs: string[] = []): Promise<ChildServer> {
  return startReference('perf-bare-server.js', [], nodeArgs, null);
}

/**
 * Starts the bare proxy (perf-bare-proxy) in front of `upstreamUrl` as a child process, on
 * `cpus` when given.
 */
export async function startBareProxy(
  upstreamUrl: string,
  upstreamKey: string,
  cpus: string | null = null,
): Promise<ChildServer> {
  return startReference('perf-bare-proxy.js', [upstreamUrl, upstreamKey], [], cpus);
}

/** A new, empty PostgreSQL database on the server of baseUrl, dropped by drop(). */
export async function createPostgresDatabase(
  baseUrl: string,
  prefix = 'mas_bench',
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const client = new Client({ connectionString: baseUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
