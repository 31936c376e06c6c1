const encoder = new TextEncoder();

/** Little-endian writer for the layouts in ffi/protocol.h. */
export class BinaryWriter {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }

  u64(v: bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.len, v, true);
    this.len += 8;
  }

  str(s: string | null): void {
    if (s === null) {
      this.u32(0xffffffff);
      return;
    }
    if (s.includes("\0")) throw new TypeError(`NUL byte in string ${JSON.stringify(s)}`);
    // UTF-8 takes at most 3 bytes per UTF-16 unit: reserve that, encode in place, then fill in the length.
    this.reserve(4 + s.length * 3 + 1);
    const { written } = encoder.encodeInto(s, this.buf.subarray(this.len + 4));
    this.view.setUint32(this.len, written, true);
    this.buf[this.len + 4 + written] = 0;
    this.len += 4 + written + 1;
  }

  strv(v: string[]): void {
    this.u32(v.length);
    for (const s of v) this.str(s);
  }

  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
