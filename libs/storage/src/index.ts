export { freeBuffer } from './body.js';
export { createObjectStore, type ObjectStoreOptions } from './create-object-store.js';
export { deletePrefix, deleteUpload } from './delete-prefix.js';
export {
  incomingKey,
  RETROHUNT_RULES_PREFIX,
  retrohuntOfRulesKey,
  retrohuntRulesKey,
  retrohuntRulesPrefix,
  sampleKey,
  UPLOADS_PREFIX,
  uploadOfKey,
  uploadPartKey,
  uploadPrefix,
} from './keys.js';
export { type ByteRange, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.js';
export { OBJECT_STORE, StorageModule } from './storage.module.js';
