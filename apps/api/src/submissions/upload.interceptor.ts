import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import multer, { MulterError } from 'multer';
import type { Observable } from 'rxjs';
import { CONFIG, type Config } from '#config';
import { SpecimenError } from '#contracts';
import { OBJECT_STORE, type ObjectStore } from '#storage';
import { idempotencyKeyOf } from './idempotency.js';
import { HashingStorageEngine } from './upload.engine.js';

function toSpecimenError(e: unknown, maxBytes: number): SpecimenError {
  if (e instanceof SpecimenError) return e;
  if (e instanceof MulterError) {
    switch (e.code) {
      case 'LIMIT_FILE_SIZE':
        return new SpecimenError('FILE_TOO_LARGE', `the file exceeds the limit of ${maxBytes} bytes`, {
          limit: maxBytes,
        });
      case 'LIMIT_FILE_COUNT':
        return new SpecimenError('UNEXPECTED_FIELD', 'send one file part only: a second one came', {
          field: e.field ?? 'file',
        });
      case 'LIMIT_UNEXPECTED_FILE':
        // What curl sends for -F metadata=@meta.json: the metadata as a file part.
        if (e.field === 'metadata') {
          return new SpecimenError(
            'UNEXPECTED_FIELD',
            'the "metadata" part came as a file: send it as a text field (curl -F \'metadata=<meta.json\', with <, not @)',
            { field: 'metadata' },
          );
        }
        return new SpecimenError(
          'UNEXPECTED_FIELD',
          `a file part named ${JSON.stringify(e.field ?? '')}: send exactly one file part, named "file"`,
          { field: e.field },
        );
      case 'LIMIT_FIELD_COUNT':
        // busboy does not say which field was one too many.
        return new SpecimenError(
          'UNEXPECTED_FIELD',
          'send one text field, "metadata", and one file part, "file"; a "file" part without a filename in its ' +
            "Content-Disposition counts as a text field (curl -F 'file=@path', with @)",
        );
      case 'LIMIT_PART_COUNT':
      case 'LIMIT_FIELD_KEY':
      case 'LIMIT_FIELD_VALUE':
      case 'MISSING_FIELD_NAME':
        return new SpecimenError('MALFORMED_BODY', `multipart body refused: ${e.message}`, {
          reason: e.code,
        });
      default:
        return new SpecimenError('MALFORMED_BODY', `multipart body refused: ${e.message}`);
    }
  }
  const message = e instanceof Error ? e.message : String(e);
  if (/^Request (aborted|closed)$/.test(message)) {
    return new SpecimenError('CLIENT_CLOSED_REQUEST', 'the client closed the request');
  }
  // busboy's parse errors ("Unexpected end of form", "Malformed part header", ...).
  return new SpecimenError('MALFORMED_BODY', `malformed multipart body: ${message}`);
}

/**
 * Runs multer with {@link HashingStorageEngine} and every limit set. Guards have run before this, so only
 * authenticated, authorised callers get their body read.
 */
@Injectable()
export class UploadInterceptor implements NestInterceptor {
  private readonly upload: ReturnType<multer.Multer['single']>;
  private readonly maxBytes: number;

  constructor(@Inject(CONFIG) config: Config, @Inject(OBJECT_STORE) store: ObjectStore) {
    this.maxBytes = config.limits.uploadMaxBytes;
    this.upload = multer({
      storage: new HashingStorageEngine(store, this.maxBytes),
      limits: {
        fieldNameSize: 64,
        fieldSize: 64 * 1024,
        // The metadata alone: any other text field is refused (and a file already stored is removed).
        fields: 1,
        fileSize: this.maxBytes,
        files: 1,
        parts: 3,
        headerPairs: 64,
      },
    }).single('file');
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    // A malformed Idempotency-Key is refused before the body is read, not after.
    idempotencyKeyOf(req);
    if (req.is('multipart/form-data') !== 'multipart/form-data') {
      throw new SpecimenError(
        'UNSUPPORTED_MEDIA_TYPE',
        'send multipart/form-data with a "metadata" part and a "file" part',
      );
    }
    await new Promise<void>((resolve, reject) => {
      this.upload(req, res, (error: unknown) =>
        error === undefined || error === null ? resolve() : reject(toSpecimenError(error, this.maxBytes)),
      );
    });
    return next.handle();
  }
}
