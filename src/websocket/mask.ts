/**
 * Masking (RFC 6455 §5.3): XOR with a 4-byte key, repeating.
 *
 * Unmasking happens in place on received bytes (Capstan never reuses read
 * memory, so the frame view is ours to change). Short payloads, the common
 * case for chat and echo traffic, go four bytes per step with the key in
 * locals; longer ones switch to 32-bit words once the address is aligned.
 */

const WORD_FROM = 128;

/** XORs `data[start, end)` in place with the key `k0..k3` (the key's phase starts at `start`). */
export function unmaskInPlace(data: Uint8Array, start: number, end: number, k0: number, k1: number, k2: number, k3: number): void {
  let i = start;
  if (end - start >= WORD_FROM) {
    // Bring the address to a 4-byte boundary, rotating the key to match.
    while (((data.byteOffset + i) & 3) !== 0) {
      data[i] = (data[i] as number) ^ k0;
      const t = k0;
      k0 = k1;
      k1 = k2;
      k2 = k3;
      k3 = t;
      i++;
    }
    const words = (end - i) >>> 2;
    // Little-endian word of the key in the current phase (x86 and ARM Node are little-endian).
    const key = (k0 | (k1 << 8) | (k2 << 16) | (k3 << 24)) | 0;
    const w = new Int32Array(data.buffer, data.byteOffset + i, words);
    for (let j = 0; j < words; j++) w[j] = (w[j] as number) ^ key;
    i += words << 2;
  }
  const stop = i + ((end - i) & ~3);
  for (; i < stop; i += 4) {
    data[i] = (data[i] as number) ^ k0;
    data[i + 1] = (data[i + 1] as number) ^ k1;
    data[i + 2] = (data[i + 2] as number) ^ k2;
    data[i + 3] = (data[i + 3] as number) ^ k3;
  }
  if (i < end) data[i] = (data[i] as number) ^ k0;
  if (i + 1 < end) data[i + 1] = (data[i + 1] as number) ^ k1;
  if (i + 2 < end) data[i + 2] = (data[i + 2] as number) ^ k2;
}

/** Writes `src` masked with `key[0..3]` into `dst` at `at` (the client's copy into the outbound slab). */
export function maskInto(src: Uint8Array, dst: Uint8Array, at: number, key: Uint8Array, keyAt: number): void {
  const k0 = key[keyAt] as number;
  const k1 = key[keyAt + 1] as number;
  const k2 = key[keyAt + 2] as number;
  const k3 = key[keyAt + 3] as number;
  const n = src.length;
  const stop = n & ~3;
  let i = 0;
  for (; i < stop; i += 4) {
    dst[at + i] = (src[i] as number) ^ k0;
    dst[at + i + 1] = (src[i + 1] as number) ^ k1;
    dst[at + i + 2] = (src[i + 2] as number) ^ k2;
    dst[at + i + 3] = (src[i + 3] as number) ^ k3;
  }
  if (i < n) dst[at + i] = (src[i] as number) ^ k0;
  if (i + 1 < n) dst[at + i + 1] = (src[i + 1] as number) ^ k1;
  if (i + 2 < n) dst[at + i + 2] = (src[i + 2] as number) ^ k2;
}
