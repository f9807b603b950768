/** Wall-clock milliseconds since the epoch, with sub-millisecond precision, for span times. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
