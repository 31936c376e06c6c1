/** Keeps the last `size` bytes written to it. */
export class TailBuffer {
  readonly #size: number;
  #chunks: Uint8Array[] = [];
  #length = 0;

  constructor(size: number) {
    this.#size = size;
  }

  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#length += chunk.byteLength;
    while (this.#chunks.length > 1 && this.#length - (this.#chunks[0]?.byteLength ?? 0) >= this.#size) {
      this.#length -= this.#chunks.shift()?.byteLength ?? 0;
    }
  }

  bytes(): Uint8Array {
    const all = Buffer.concat(this.#chunks);
    return all.byteLength > this.#size ? all.subarray(all.byteLength - this.#size) : all;
  }

  text(): string {
    return new TextDecoder("utf-8", { fatal: false }).decode(this.bytes());
  }
}
