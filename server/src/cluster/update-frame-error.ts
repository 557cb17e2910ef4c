import type { BusFrameErrorCode } from '@badgesync/shared';
import { BusFrameError } from '@badgesync/shared';

/** A bus frame refused by the codec (SPEC CLUSTER-2): `code` is one of `BusFrameError`'s. */
export class UpdateFrameError extends Error {
  override readonly name = 'UpdateFrameError';
  constructor(
    readonly code: BusFrameErrorCode,
    detail?: string,
  ) {
    super(detail === undefined ? BusFrameError[code] : `${BusFrameError[code]}: ${detail}`);
  }
}
