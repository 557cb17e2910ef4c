/**
 * @badgesync/client/node — what only Node can run: the file storage. Everything else is in
 * `@badgesync/client`.
 */
export { FileStorage, type FileStorageOptions } from './storage/file-storage.js';
