import { Logger } from '@nestjs/common';
import type { Database as SqliteConnection } from 'better-sqlite3';
import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** SQLite's own default for `wal_autocheckpoint` (pages), restored when the thread is gone. */
export const SQLITE_AUTOCHECKPOINT_PAGES = 1000;

/**
 * A WAL this many frames long has not restarted for ten times SQLite's own checkpoint size:
 * writes kept landing while each PASSIVE checkpoint ran (a writer restarts the WAL only when
 * it begins with every frame copied back), so the thread runs a RESTART checkpoint, which
 * holds writers off while it copies the last frames (milliseconds) and lets the next writer
 * start the file over.
 */
export const RESTART_FRAMES = 10_000;

/** How long a RESTART checkpoint waits for the writer lock, then for readers (see below). */
export const RESTART_BUSY_TIMEOUT_MS = 100;

const START_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 2_000;

/**
 * The checkpointing thread, as source: a file would not run under ts-jest (which compiles
 * only what Jest itself loads) and would need copying next to the built JS. It loads
 * better-sqlite3 from the path the main thread resolved, opens its own connection to the
 * file and, every `intervalMs`, runs a PASSIVE checkpoint, which never waits for readers or
 * writers and costs a few shared-memory reads when there is nothing to copy. Its
 * synchronous setting is SQLite's default, FULL: a checkpoint syncs the WAL and then the
 * database file (the two fsyncs that used to stall the event loop). Its busy timeout is
 * short (RESTART_BUSY_TIMEOUT_MS): PASSIVE never waits anyway; a RESTART must wait for a gap
 * between the event loop's write transactions to take the writer lock (without any wait it
 * found none under sustained writes, and the WAL grew past 150 MB), but it then holds that
 * lock while it waits for readers, and the event loop's next write sleeps meanwhile in
 * better-sqlite3's synchronous busy handler: another process's long read must cost that
 * write a moment, not SQLITE_BUSY_TIMEOUT_MS. Any error ends the thread, and the main
 * thread then hands checkpoints back to SQLite.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { file, intervalMs, restartFrames, busyTimeoutMs } = workerData;
const db = new Database(file, { fileMustExist: true, timeout: busyTimeoutMs });
let last = { log: 0, checkpointed: 0 };
function checkpoint() {
  let [result] = db.pragma('wal_checkpoint(PASSIVE)');
  let restarted = false;
  if (result.log >= restartFrames && result.log > last.log) {
    [result] = db.pragma('wal_checkpoint(RESTART)');
    restarted = true;
  }
  if (result.log !== last.log || result.checkpointed !== last.checkpointed) {
    parentPort.postMessage({ kind: 'checkpoint', restarted, ...result });
  }
  last = result;
}
const timer = setInterval(checkpoint, intervalMs);
parentPort.on('message', (message) => {
  if (message === 'stop') {
    clearInterval(timer);
    db.close();
    parentPort.close();
  }
});
parentPort.postMessage({ kind: 'ready' });
checkpoint();
`;

export interface WalCheckpointerOptions {
  /** The SQLite file (not `:memory:`: no WAL there). */
  file: string;
  intervalMs: number;
  /** The process's connections to the file, whose automatic checkpoints the thread replaces. */
  connections: readonly SqliteConnection[];
  /** better-sqlite3's entry file, resolved here because the thread runs outside any bundler or Jest. */
  driver?: string;
}

/** What the thread reports: a PRAGMA wal_checkpoint row (frames in the WAL, frames copied back). */
interface CheckpointMessage {
  kind: 'checkpoint';
  restarted: boolean;
  busy: number;
  log: number;
  checkpointed: number;
}

/** The checkpointer as /health/detailed shows it. */
export interface WalCheckpointerState {
  /** Who checkpoints the WAL now: the thread, or SQLite inside each commit (not started, failed, stopped). */
  checkpoints_by: 'thread' | 'sqlite';
  /** Why SQLite does; null while the thread does. */
  reason: string | null;
  interval_ms: number;
  /** The thread's last checkpoint that found the WAL changed. */
  last_checkpoint: { at: string; wal_frames: number; checkpointed_frames: number } | null;
  /** RESTART checkpoints run because the WAL had not restarted on its own. */
  forced_restarts: number;
  wal_bytes: number;
}

/**
 * Checkpoints a SQLite WAL on a worker thread. better-sqlite3 runs on the event loop, so
 * SQLite's automatic checkpoint (inside the commit that takes the WAL past 1,000 frames:
 * copying the pages back, then two fsyncs) stalled every request in flight for 10-25 ms.
 * While the thread runs, the process's connections have `wal_autocheckpoint = 0`; when it
 * fails to start, errors or exits, they get SQLite's default back, so the WAL never grows
 * without bound.
 */
export class WalCheckpointer {
  private readonly logger = new Logger(WalCheckpointer.name);
  private worker: Worker | null = null;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  private failure: string | null = null;
  private reason: string | null = 'not started';
  private last: WalCheckpointerState['last_checkpoint'] = null;
  private restarts = 0;

  constructor(private readonly options: WalCheckpointerOptions) {}

  /** Starts the thread; on failure logs a warning and leaves checkpoints to SQLite. */
  async start(): Promise<void> {
    const worker = this.spawn();
    try {
      await this.ready(worker);
    } catch (error) {
      this.failure ??= errorText(error);
      this.logger.warn(
        `WAL checkpointer thread did not start (${errorText(error)}); SQLite checkpoints inside commits`,
      );
      await worker.terminate();
      return;
    }
    this.takeOverCheckpoints();
  }

  /** Asks the thread to stop, waits for it (terminates it after a short while), hands checkpoints back. */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) {
      return;
    }
    this.stopping = true;
    worker.postMessage('stop');
    if (!(await settlesWithin(this.exited, STOP_TIMEOUT_MS))) {
      this.logger.warn(`WAL checkpointer thread did not stop within ${STOP_TIMEOUT_MS} ms; ended`);
      await worker.terminate();
    }
    await this.exited;
  }

  /** True while the thread runs and the connections leave checkpoints to it. */
  get running(): boolean {
    return this.reason === null;
  }

  state(): WalCheckpointerState {
    return {
      checkpoints_by: this.running ? 'thread' : 'sqlite',
      reason: this.reason,
      interval_ms: this.options.intervalMs,
      last_checkpoint: this.last,
      forced_restarts: this.restarts,
      wal_bytes: fileSize(`${this.options.file}-wal`),
    };
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: this.options.driver ?? require.resolve('better-sqlite3'),
        file: this.options.file,
        intervalMs: this.options.intervalMs,
        restartFrames: RESTART_FRAMES,
        busyTimeoutMs: RESTART_BUSY_TIMEOUT_MS,
      },
    });
    // Never what keeps a process alive: shutdown stops it, and a process exiting without
    // one loses nothing (SQLite recovers an interrupted checkpoint from the WAL).
    worker.unref();
    worker.on('message', (message: { kind: string }) => {
      if (message.kind === 'checkpoint') {
        this.recordCheckpoint(message as CheckpointMessage);
      }
    });
    worker.on('error', (error) => {
      this.failure ??= errorText(error);
    });
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.handBackCheckpoints(code);
        resolve();
      });
    });
    this.worker = worker;
    return worker;
  }

  /** Resolves once the thread has opened its connection; rejects when it fails or is slow. */
  private ready(worker: Worker): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (error?: Error): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        if (error) {
          reject(error);
        } else {
          resolve();
        }
      };
      const onMessage = (message: { kind: string }): void => {
        if (message.kind === 'ready') {
          settle();
        }
      };
      const timer = setTimeout(
        () => settle(new Error(`no answer within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      worker.on('message', onMessage);
      void this.exited.then(() => settle(new Error(this.failure ?? 'the thread exited')));
    });
  }

  private takeOverCheckpoints(): void {
    if (!this.worker) {
      return; // ended between its first message and now: the exit handler already logged it
    }
    for (const connection of this.options.connections) {
      connection.pragma('wal_autocheckpoint = 0');
    }
    this.reason = null;
    this.logger.log(`WAL checkpoints every ${this.options.intervalMs} ms on a worker thread`);
  }

  /** The thread is gone: SQLite checkpoints inside commits again (connections still open). */
  private handBackCheckpoints(code: number): void {
    this.worker = null;
    const wasRunning = this.running;
    for (const connection of this.options.connections) {
      if (connection.open) {
        connection.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`);
      }
    }
    this.reason = this.stopping ? 'stopped' : (this.failure ?? `thread exited with code ${code}`);
    if (wasRunning && !this.stopping) {
      this.logger.warn(
        `WAL checkpointer thread ended (${this.reason}); SQLite checkpoints inside commits again`,
      );
    }
  }

  private recordCheckpoint(message: CheckpointMessage): void {
    this.last = {
      at: new Date().toISOString(),
      wal_frames: message.log,
      checkpointed_frames: message.checkpointed,
    };
    if (message.restarted) {
      this.restarts++;
    }
  }
}

/** True when `promise` settles within `ms`; the timer never outlives the wait. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // no WAL file (yet, or after the last connection closed)
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
