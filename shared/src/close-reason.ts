/**
 * WebSocket close reasons (SPEC CLOSE-7). A close frame's payload is at most 125 bytes: a
 * 2-byte code and a reason of at most 123 bytes of UTF-8. `ws` throws on a longer reason, so a
 * refusal naming a non-ASCII key (`é` is 2 bytes, `😀` 4) used to throw inside the close and
 * reached the device as 4400 "could not be handled" instead of the refusal itself.
 */

/** The longest close reason in UTF-8 bytes (RFC 6455 §5.5: control frames carry ≤ 125 bytes). */
export const MAX_CLOSE_REASON_BYTES = 123;

const encoder = new TextEncoder();

/**
 * `reason` cut to at most MAX_CLOSE_REASON_BYTES bytes of UTF-8, at a character boundary
 * (never half a multi-byte character nor half a surrogate pair). A lone surrogate counts as
 * U+FFFD (3 bytes), which is what it becomes on the wire.
 */
export function closeReason(reason: string): string {
  if (reason.length * 3 <= MAX_CLOSE_REASON_BYTES) return reason;
  let bytes = 0;
  let end = 0;
  for (const char of reason) {
    const size = encoder.encode(char).length;
    if (bytes + size > MAX_CLOSE_REASON_BYTES) break;
    bytes += size;
    end += char.length;
  }
  return reason.slice(0, end);
}
