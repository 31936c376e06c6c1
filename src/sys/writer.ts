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
    const bytes = new TextEncoder().encode(s);
    this.u32(bytes.length);
    this.reserve(bytes.length + 1);
    this.buf.set(bytes, this.len);
    this.buf[this.len + bytes.length] = 0;
    this.len += bytes.length + 1;
  }

  strv(v: string[]): void {
    this.u32(v.length);
    for (const s of v) this.str(s);
  }

  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
