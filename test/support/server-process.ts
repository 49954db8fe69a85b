import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../tools/lib/perf-process';

const ROOT = join(__dirname, '..', '..');

/** The built service (dist/src/main.js, built by the jest global setup) as a child process. */
export class ServerProcess {
  readonly output: string[] = [];
  private exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Starts the server in `cwd`, by default a fresh empty directory: the server loads `.env`
   * from its working directory, and a developer's own `.env` must not reach the tests.
   * `nodeArgs` go before the script (e.g. `--require` of a test-only preload).
   */
  static async start(
    env: Record<string, string>,
    cwd?: string,
    nodeArgs: string[] = [],
  ): Promise<ServerProcess> {
    const port = await freePort();
    const privateCwd = cwd === undefined ? mkdtempSync(join(tmpdir(), 'server-cwd-')) : null;
    const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'dist', 'src', 'main.js')], {
      cwd: cwd ?? privateCwd!,
      env: {
        PATH: process.env.PATH ?? '',
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new ServerProcess(child, port);
    if (privateCwd !== null) {
      child.once('exit', () => rmSync(privateCwd, { recursive: true, force: true }));
    }
    const collect = (chunk: Buffer) => server.output.push(chunk.toString('utf8'));
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    return server;
  }

  /** Resolves when the server logs that it listens; rejects if it exits first. */
  async ready(timeoutMs = 30000): Promise<void> {
    const listening = new Promise<void>((resolve) => {
      const check = (chunk: Buffer) => {
        if (
          chunk.toString('utf8').includes('"msg":"listening"') ||
          this.output.join('').includes('"msg":"listening"')
        ) {
          this.child.stdout?.off('data', check);
          resolve();
        }
      };
      this.child.stdout?.on('data', check);
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`server did not start in ${timeoutMs} ms:\n${this.output.join('')}`)),
        timeoutMs,
      );
    });
    const exit = this.exited.then((code) => {
      throw new Error(`server exited with ${code} before listening:\n${this.output.join('')}`);
    });
    try {
      await Promise.race([listening, timeout, exit]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when the server has written `text` (to stdout or stderr); rejects if it exits first. */
  async logged(text: string): Promise<void> {
    const seen = new Promise<void>((resolve) => {
      const check = () => {
        if (this.output.join('').includes(text)) {
          this.child.stdout?.off('data', check);
          this.child.stderr?.off('data', check);
          resolve();
        }
      };
      this.child.stdout?.on('data', check);
      this.child.stderr?.on('data', check);
      check();
    });
    const exit = this.exited.then((code) => {
      throw new Error(
        `server exited with ${code} before logging ${text}:\n${this.output.join('')}`,
      );
    });
    await Promise.race([seen, exit]);
  }

  /** Resolves with the exit code once the process ends by itself. */
  exit(): Promise<number | null> {
    return this.exited;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
    }
    return this.exited;
  }
}
