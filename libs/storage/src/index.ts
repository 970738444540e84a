export { freeBuffer } from './body.js';
export { createObjectStore, type ObjectStoreOptions } from './create-object-store.js';
export { incomingKey, retrohuntRulesKey, sampleKey, uploadPartKey, uploadPrefix } from './keys.js';
export { type ByteRange, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.js';
export { OBJECT_STORE, StorageModule } from './storage.module.js';
