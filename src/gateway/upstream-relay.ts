import { Readable } from 'node:stream';
import { JsonScanner, ScannedAnswer, SseScanner } from './usage-scanner';

/** How a relayed answer ended. */
export type RelayEnd = 'ok' | 'error' | 'aborted';

export interface RelayResult {
  end: RelayEnd;
  answer: ScannedAnswer;
  /** Milliseconds (performance.now clock) when the first token (first data line) passed. */
  firstTokenAt: number | null;
  /** Why it ended in error, for the log. */
  problem: string | null;
}

/**
 * Fires `onSilence`, with the problem to report, once nothing was heard from the upstream
 * for `ms`, and only then: a stalled event loop (a long GC pause, a starved CPU) cannot trip
 * it by itself. Node runs expired timers before it reads the sockets, so after a stall the
 * timer fires while the upstream's bytes may already wait in the socket; the verdict is
 * therefore given one turn of the loop later (setImmediate runs after the sockets are read),
 * and only if nothing was heard in between.
 */
export class SilenceTimer {
  private readonly timer: NodeJS.Timeout;
  private heard = 0;
  private stopped = false;

  constructor(
    private readonly ms: number,
    private readonly onSilence: (problem: string) => void,
  ) {
    this.timer = setTimeout(() => this.expired(), ms);
    this.timer.unref();
  }

  /** Something arrived: the silence counts from now. */
  heardFrom(): void {
    this.heard++;
    this.timer.refresh();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private expired(): void {
    const heard = this.heard;
    setImmediate(() => {
      if (!this.stopped && this.heard === heard) {
        this.onSilence(`no data from the upstream for ${this.ms} ms`);
      }
    });
  }
}

/**
 * The upstream answer on its way to the client: a Readable that pushes the upstream's
 * chunks unchanged as they arrive and pauses the upstream whenever the client is slower
 * (backpressure both ways: nothing piles up here). While the bytes pass, a scanner reads
 * the usage, id and errors out of them. If the upstream breaks or stalls longer than
 * `idleTimeoutMs` mid-answer, a stream gets a final SSE error event (which the OpenAI SDKs
 * raise) and ends; if the client goes away (the response is closed and this stream
 * destroyed), the upstream request is cancelled. `onEnd` is called exactly once.
 */
export class UpstreamRelay extends Readable {
  private readonly scanner: SseScanner | JsonScanner;
  private finished = false;
  private firstTokenAt: number | null = null;
  private idle: SilenceTimer | null = null;

  constructor(
    private readonly upstream: Readable,
    private readonly streamed: boolean,
    private readonly idleTimeoutMs: number,
    private readonly cancelUpstream: () => void,
    private readonly onEnd: (result: RelayResult) => void,
    /** Chunks of the answer already read (readAnswer), sent first. */
    prefix: readonly Buffer[] = [],
  ) {
    super({ highWaterMark: 64 * 1024 });
    this.scanner = streamed ? new SseScanner() : new JsonScanner();
    upstream.on('data', (chunk: Buffer) => this.onData(chunk));
    upstream.once('end', () => this.onUpstreamEnd());
    upstream.once('error', (error) => this.fail(`upstream connection broke (${error.message})`));
    upstream.once('close', () => {
      if (!upstream.readableEnded) {
        this.fail('upstream connection closed before the answer ended');
      }
    });
    this.armIdleTimer();
    prefix.forEach((chunk) => this.onData(chunk));
    if (upstream.readableEnded) {
      // readAnswer read past its limit in the answer's last chunk (a whole answer can arrive
      // in one): the upstream's end came and went before these listeners, so end here.
      this.onUpstreamEnd();
    } else if (this.readableLength < this.readableHighWaterMark) {
      // readAnswer left the upstream paused; let it flow unless the prefix filled the buffer
      // (onData then holds it back until _read asks for more).
      this.upstream.resume();
    }
  }

  override _read(): void {
    // The client wants more: the upstream's silence counts again from now.
    if (!this.finished && this.upstream.isPaused()) {
      this.armIdleTimer();
    }
    this.upstream.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // The client went away (or the response failed) before the answer ended.
    if (!this.finished) {
      this.cancelUpstream();
      this.finish('aborted', 'the client closed the connection');
    }
    callback(error);
  }

  private onData(chunk: Buffer): void {
    if (this.finished) {
      return;
    }
    this.armIdleTimer();
    if (this.scanner instanceof SseScanner) {
      if (this.scanner.push(chunk) && this.firstTokenAt === null) {
        this.firstTokenAt = performance.now();
      }
    } else {
      this.firstTokenAt ??= performance.now();
      this.scanner.push(chunk);
    }
    if (!this.push(chunk)) {
      // The client is slower than the upstream: hold the upstream back, and do not count
      // the silence this causes as an upstream stall.
      this.upstream.pause();
      this.stopIdleTimer();
    }
  }

  private onUpstreamEnd(): void {
    if (this.finished) {
      return;
    }
    this.scanner.end();
    const error = this.scanner.answer.errorMessage;
    this.finish(error === null ? 'ok' : 'error', error);
    this.push(null);
  }

  /** The upstream broke or stalled mid-answer: end the client's answer cleanly. */
  private fail(problem: string): void {
    if (this.finished) {
      return;
    }
    this.cancelUpstream();
    this.scanner.end();
    this.finish('error', problem);
    if (this.streamed) {
      const event = {
        error: {
          message: `The upstream answer was interrupted: ${problem}.`,
          type: 'api_error',
          code: 'upstream_interrupted',
          param: null,
        },
      };
      this.push(`data: ${JSON.stringify(event)}\n\n`);
      this.push(null);
    } else {
      // A JSON answer cannot be completed: cut the connection so the client sees a failure.
      this.destroy(new Error(problem));
    }
  }

  private armIdleTimer(): void {
    if (this.idle) {
      this.idle.heardFrom();
      return;
    }
    this.idle = new SilenceTimer(this.idleTimeoutMs, (problem) => this.fail(problem));
  }

  private stopIdleTimer(): void {
    this.idle?.stop();
    this.idle = null;
  }

  private finish(end: RelayEnd, problem: string | null): void {
    this.finished = true;
    this.stopIdleTimer();
    this.onEnd({
      end,
      answer: this.scanner.answer,
      firstTokenAt: this.firstTokenAt,
      problem,
    });
  }
}

/** A non-streamed answer read whole, or the first chunks of one too large for that. */
export type ReadAnswer =
  | { whole: true; body: Buffer; firstByteAt: number }
  | { whole: false; prefix: Buffer[]; firstByteAt: number | null };

/**
 * Reads a non-streamed answer whole when it is at most `maxBytes` (the gateway then sends it
 * in one write, with its length, which costs far less per call than relaying a stream).
 * A larger answer stops the reading: the upstream is paused and the chunks read so far are
 * handed back, for an UpstreamRelay to send first. Rejects with the problem when the
 * upstream breaks or stays silent `idleTimeoutMs` before the end; the caller then cancels
 * the upstream request.
 */
export function readAnswer(
  upstream: Readable,
  idleTimeoutMs: number,
  maxBytes: number,
): Promise<ReadAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let firstByteAt: number | null = null;
    const stop = () => {
      idle.stop();
      upstream.off('data', onData);
      upstream.off('end', onEnd);
      upstream.off('error', onError);
      upstream.off('close', onClose);
    };
    const fail = (problem: string) => {
      stop();
      reject(new Error(problem));
    };
    const onData = (chunk: Buffer) => {
      firstByteAt ??= performance.now();
      chunks.push(chunk);
      size += chunk.length;
      if (size > maxBytes) {
        // Pause before the listener goes: a chunk emitted in between would be lost.
        upstream.pause();
        stop();
        resolve({ whole: false, prefix: chunks, firstByteAt });
        return;
      }
      idle.heardFrom();
    };
    const onEnd = () => {
      stop();
      resolve({
        whole: true,
        body: Buffer.concat(chunks),
        firstByteAt: firstByteAt ?? performance.now(),
      });
    };
    const onError = (error: Error) => fail(`upstream connection broke (${error.message})`);
    const onClose = () => {
      if (!upstream.readableEnded) {
        fail('upstream connection closed before the answer ended');
      }
    };
    const idle = new SilenceTimer(idleTimeoutMs, fail);
    upstream.on('data', onData);
    upstream.once('end', onEnd);
    upstream.once('error', onError);
    upstream.once('close', onClose);
  });
}
