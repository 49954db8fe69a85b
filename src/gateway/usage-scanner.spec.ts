import { JsonScanner, SseScanner } from './usage-scanner';

const USAGE = { prompt_tokens: 11, completion_tokens: 7, cost: 0.000211 };

/** An SSE answer as OpenRouter sends it: content chunks, a usage chunk, [DONE]. */
function sseAnswer(contents: string[], newline = '\n'): string {
  const event = (value: unknown) => `data: ${JSON.stringify(value)}${newline}${newline}`;
  return (
    ': OPENROUTER PROCESSING' +
    newline +
    newline +
    contents
      .map((content) =>
        event({ id: 'gen-1', object: 'chat.completion.chunk', choices: [{ delta: { content } }] }),
      )
      .join('') +
    event({ id: 'gen-1', object: 'chat.completion.chunk', choices: [], usage: USAGE }) +
    `data: [DONE]${newline}${newline}`
  );
}

/** Feeds `bytes` to a new scanner in pieces of `size` bytes; the scanner and when it saw data. */
function scanInPieces(bytes: Buffer, size: number): { sut: SseScanner; firstAt: number[] } {
  const sut = new SseScanner();
  const firstAt: number[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    if (sut.push(bytes.subarray(at, at + size))) {
      firstAt.push(at);
    }
  }
  sut.end();
  return { sut, firstAt };
}

describe(SseScanner.name, () => {
  it('reads the id and the final usage chunk, whatever the chunk boundaries', () => {
    const bytes = Buffer.from(sseAnswer(['Hello', ' wörld ✓', 'x'.repeat(3000)]));
    for (const size of [1, 2, 3, 7, 64, 1000, bytes.length]) {
      const { sut } = scanInPieces(bytes, size);
      expect(sut.answer).toEqual({
        generationId: 'gen-1',
        promptTokens: 11,
        completionTokens: 7,
        costUsd: 0.000211,
        errorMessage: null,
      });
    }
  });

  it('finds the usage line among many lines of one chunk, after keys in lines it skips', () => {
    const sut = new SseScanner();
    sut.push(
      Buffer.from(
        ': "usage" and "error" in a comment\n\n' +
          'data: {"id":"gen-7","choices":[]}\n\n' +
          'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'.repeat(3) +
          `data: ${JSON.stringify({ choices: [], usage: USAGE })}\n\n` +
          'data: {"choices":[{"delta":{"content":"b"}}]}\n\n' +
          'data: {"error":{"message":"late failure"}}\n\n',
      ),
    );
    sut.end();
    expect(sut.answer).toEqual({
      generationId: 'gen-7',
      promptTokens: 11,
      completionTokens: 7,
      costUsd: 0.000211,
      errorMessage: 'late failure',
    });
  });

  it('reads lines ended by CRLF', () => {
    const { sut } = scanInPieces(Buffer.from(sseAnswer(['a', 'b'], '\r\n')), 5);
    expect(sut.answer.promptTokens).toBe(11);
    expect(sut.answer.generationId).toBe('gen-1');
  });

  it('reports the first data line once, in the chunk that completes it', () => {
    const bytes = Buffer.from(sseAnswer(['a', 'b']));
    const firstDataEnd = bytes.indexOf('\n', bytes.indexOf('data:'));
    const { firstAt } = scanInPieces(bytes, 10);
    expect(firstAt).toEqual([Math.floor(firstDataEnd / 10) * 10]);
  });

  it('does not count comments or [DONE] as data', () => {
    const sut = new SseScanner();
    expect(sut.push(Buffer.from(': keep-alive\n\ndata: [DONE]\n\n'))).toBe(false);
    expect(sut.sawData).toBe(false);
  });

  it('keeps a mid-stream error object', () => {
    const sut = new SseScanner();
    sut.push(Buffer.from('data: {"id":"gen-2","choices":[]}\n\n'));
    sut.push(Buffer.from('data: {"error":{"message":"provider went away","code":502}}\n\n'));
    sut.end();
    expect(sut.answer.errorMessage).toBe('provider went away');
    expect(sut.answer.generationId).toBe('gen-2');
  });

  it('reads a last line that has no newline', () => {
    const sut = new SseScanner();
    sut.push(Buffer.from(`data: ${JSON.stringify({ id: 'gen-3', usage: USAGE })}`));
    expect(sut.answer.promptTokens).toBeNull();
    sut.end();
    expect(sut.answer.promptTokens).toBe(11);
  });

  it('passes over a line longer than 1 MB and reads the lines after it', () => {
    const sut = new SseScanner();
    sut.push(Buffer.from('data: {"id":"gen-4"}\n\ndata: {"usage":'));
    const filler = Buffer.alloc(256 * 1024, 'x');
    for (let i = 0; i < 5; i++) {
      sut.push(filler);
    }
    sut.push(Buffer.from('}\n\n'));
    sut.push(Buffer.from(`data: ${JSON.stringify({ usage: USAGE })}\n\n`));
    sut.end();
    expect(sut.answer.generationId).toBe('gen-4');
    expect(sut.answer.completionTokens).toBe(7);
  });

  it('ignores data lines that are not JSON', () => {
    const sut = new SseScanner();
    sut.push(Buffer.from('data: not json "usage"\n\ndata:\n\n'));
    sut.end();
    expect(sut.sawData).toBe(true);
    expect(sut.answer.promptTokens).toBeNull();
  });
});

describe(JsonScanner.name, () => {
  it('reads id and usage of a whole answer', () => {
    const sut = new JsonScanner();
    sut.push(Buffer.from(JSON.stringify({ id: 'gen-5', choices: [], usage: USAGE })));
    sut.end();
    expect(sut.answer.generationId).toBe('gen-5');
    expect(sut.answer.costUsd).toBe(0.000211);
  });

  it('reads id and usage of an answer larger than it keeps', () => {
    const sut = new JsonScanner();
    const text = JSON.stringify({
      id: 'gen-6',
      choices: [{ message: { content: 'y'.repeat(200 * 1024) } }],
      usage: USAGE,
    });
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; at += 16 * 1024) {
      sut.push(bytes.subarray(at, at + 16 * 1024));
    }
    sut.end();
    expect(sut.answer.generationId).toBe('gen-6');
    expect(sut.answer.completionTokens).toBe(7);
  });
});
