export { type Applied, ApplyFailure, applyChecked } from './apply-checked.js';
export { CloseCode, closeAction, TERMINAL_CLOSE_CODES } from './close-codes.js';
export { closeReason, MAX_CLOSE_REASON_BYTES } from './close-reason.js';
export { type AccountCounts, deriveCounts, deviceBadge, EMPTY_COUNTS, sortedRecord, unreadOf } from './counts.js';
export { type CountsChange, type CountsListener, CountsTracker } from './counts-tracker.js';
export { type CheckedUpdate, type DecodedUpdate, decodeIncoming } from './decoded-update.js';
export {
  DEVICE_ROOT_PREFIX,
  deviceRoot,
  type Entry,
  type EntryKey,
  HEADS_ROOT,
  isDeviceEntry,
  isEntry,
  isHeadEntry,
  isMuteStamp,
  isV2Root,
  MAX_MUTE_COUNTER,
  MAX_MUTE_LEAD,
  MUTE_KEY_PREFIX,
  type MuteVote,
  muteKey,
  packMuteStamp,
  parseDeviceRoot,
  parseEntryKey,
  unpackMuteStamp,
  V1_ROOTS,
} from './document.js';
export {
  AwarenessDropReason,
  BusFrameError,
  type BusFrameErrorCode,
  type ErrorBody,
  errorBody,
  HttpError,
  type HttpErrorCode,
  RefusalReason,
} from './errors.js';
export {
  type AccountId,
  type DeviceId,
  ID_PATTERN,
  isAccountId,
  isDeviceId,
  isThreadId,
  isValidId,
  parseAccountId,
  parseDeviceId,
  parseThreadId,
  SERVER_DEVICE,
  type ThreadId,
} from './ids.js';
export { KeyValueArray } from './key-value-array.js';
export type { MarkerView } from './marker-view.js';
export { type MarkerWrite, planAllRead, planMute, planRead, planUnread, threadEpoch } from './markers.js';
export {
  EPOCH_FACTOR,
  isHeadValue,
  isMarkerValue,
  MAX_EPOCH,
  MAX_EPOCH_LEAD,
  MAX_SEQ,
  type Marker,
  packMarker,
  unpackMarker,
} from './schema.js';
export {
  type BudgetContext,
  type BudgetVerdict,
  type BudgetView,
  checkBudgets,
  type DocumentBudgets,
  SCAN_PER_CONCURRENT_WRITE,
} from './update-budget.js';
export {
  clockAdvanceProblem,
  isClientId,
  isClock,
  MAX_CLIENT_ID,
  MAX_CLOCK_ADVANCE,
  stateVectorProblem,
  updateNumberProblem,
} from './update-numbers.js';
export { convertV1Document, hasV1Content } from './v1/convert.js';
export { deriveV1Counts } from './v1/counts.js';
/** v1's document, kept only to read and convert a v1 replica (v1/schema.ts). */
export {
  type AccountMaps,
  accountMaps,
  isMuteValue,
  parseReadsKey,
  READS_KEY_SEPARATOR,
  type ReadsKey,
  ROOT,
  ROOT_NAMES,
  type RootName,
  readsKey,
} from './v1/schema.js';
export {
  decodeMessage,
  encodeAwareness,
  encodeStep1,
  encodeStep2,
  encodeUpdate,
  MessageType,
  messageTypeOf,
  SyncType,
  WireError,
  type WireMessage,
} from './wire.js';
export {
  type ClientBindings,
  checkUpdate,
  refusalCode,
  type Verdict,
  type WriteRuleContext,
} from './write-rules.js';
