// A watch stream cut into lines (one JSON event each), holding at most `max` bytes of a line
// not yet complete. Chunks are kept as they come and joined once, when the newline arrives:
// a large event in many chunks costs its size, not its size times the number of chunks. It
// cuts at byte 0x0A, which never occurs inside a multi-byte UTF-8 character, and decodes
// whole lines only.

export class LineTooLong extends Error {}

export class LineBuffer {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly max: number) {}

  /** The lines this chunk completes, in order; throws LineTooLong past the bound. */
  *push(chunk: Buffer): Generator<string> {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      this.hold(piece.length);
      const line =
        this.parts.length === 0
          ? piece.toString('utf8')
          : Buffer.concat([...this.parts, piece], this.size).toString('utf8');
      this.parts = [];
      this.size = 0;
      yield line;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.hold(rest.length);
      this.parts.push(rest);
    }
  }

  private hold(n: number): void {
    this.size += n;
    if (this.size > this.max) {
      this.parts = [];
      this.size = 0;
      throw new LineTooLong(`a line longer than ${this.max} bytes`);
    }
  }
}
