import { z } from 'zod';
import { ERROR_CODES, ERROR_STATUS, type ErrorCode, ROLES } from '#contracts';
import { NAMED_RESPONSES, NAMED_SCHEMAS, type RouteDoc } from './route-docs.js';
import type { ServedRoute } from './route-discovery.js';

type Json = Record<string, unknown>;

/** `/v1/samples/:sha256` → `/v1/samples/{sha256}`. */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const PATH_PARAMS: Record<string, Json> = {
  sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'sha256 of the sample' },
  id: { type: 'string', description: 'id (uuid)' },
  rule: { type: 'string', description: 'rule name' },
  file: { type: 'string', description: 'a Swagger UI file name' },
};

function jsonSchema(schema: z.ZodType): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
  return rest;
}

/** Where a named schema is in the document. */
const componentRef = (id: string): string => `#/components/schemas/${id}`;

/** The JSON Schema of each response schema, and the named ones as components. */
interface ResponseSchemas {
  components: Record<string, Json>;
  /** A named schema as a `$ref`, any other written out (its named parts as `$ref`s); `{}` when unknown. */
  of(schema: z.ZodType | undefined): Json;
}

/**
 * The response schemas of `docs` as JSON Schema of what the API writes (zod's output side). The named ones
 * (NAMED_RESPONSES) become components, referred to with `$ref` wherever they appear; a schema without a
 * name (a list of a named view) is written where it is used. One conversion of a registry holding both, so
 * that every reference comes out as a `$ref` to the component.
 */
function responseSchemas(docs: Record<string, RouteDoc>): ResponseSchemas {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(NAMED_RESPONSES)) registry.add(schema, { id });
  const used = Object.values(docs).flatMap((d) => [
    d.response,
    ...Object.values(d.otherResponses ?? {}).map((r) => r.schema),
  ]);
  let unnamed = 0;
  for (const schema of used) {
    if (schema !== undefined && !registry.has(schema)) registry.add(schema, { id: `unnamed-${unnamed++}` });
  }
  const { schemas } = z.toJSONSchema(registry, { io: 'output', unrepresentable: 'any', uri: componentRef });
  const converted = (id: string): Json => {
    const { $schema: _schema, $id: _id, ...rest } = (schemas[id] ?? {}) as Json;
    return rest;
  };
  return {
    components: Object.fromEntries(Object.keys(NAMED_RESPONSES).map((id) => [id, converted(id)])),
    of(schema) {
      const id = schema === undefined ? undefined : registry.get(schema)?.id;
      if (id === undefined) return {};
      return Object.hasOwn(NAMED_RESPONSES, id) ? { $ref: componentRef(id) } : converted(id);
    },
  };
}

/** The error codes a route can answer with, from its shape and its declared extras. */
function routeErrors(route: ServedRoute, doc: RouteDoc | undefined): ErrorCode[] {
  const codes = new Set<ErrorCode>(doc?.errors ?? []);
  if (route.access !== 'public') codes.add('UNAUTHENTICATED').add('FORBIDDEN');
  // A :sha256 is checked before anything is read (64 hexadecimal digits).
  if (
    doc?.body !== undefined ||
    doc?.query !== undefined ||
    doc?.multipart !== undefined ||
    route.path.includes(':sha256')
  )
    codes.add('VALIDATION_FAILED');
  // A JSON body sent with another Content-Type (JsonBody), or above the parser's limit.
  if (doc?.body !== undefined) codes.add('UNSUPPORTED_MEDIA_TYPE').add('FILE_TOO_LARGE');
  if (route.path.includes(':') && !route.path.startsWith('/docs')) codes.add('NOT_FOUND');
  if (route.path.startsWith('/v1/')) codes.add('DATABASE_UNAVAILABLE');
  codes.add('INTERNAL');
  return [...codes];
}

function errorResponses(codes: ErrorCode[]): Json {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes)
    byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  const out: Json = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[String(status)] = {
      description: list.join(', '),
      content: {
        'application/json': {
          schema: { $ref: '#/components/schemas/Error' },
          example: { error: { code: list[0], message: 'what went wrong', details: {} } },
        },
      },
    };
  }
  return out;
}

function operation(route: ServedRoute, doc: RouteDoc | undefined, responses: ResponseSchemas): Json {
  const op: Json = {
    operationId: `${route.method.toLowerCase()}${openApiPath(route.path).replace(/[^A-Za-z0-9]+(.)?/g, (_, c?: string) => (c ?? '').toUpperCase())}`,
    tags: [doc?.tag ?? 'undocumented'],
    'x-roles': route.access === 'public' ? ['public'] : route.access,
    security: route.access === 'public' ? [] : [{ bearer: [] }],
  };
  if (doc !== undefined) op.summary = doc.summary;
  const parameters: Json[] = [];
  for (const [, name] of route.path.matchAll(/:([A-Za-z0-9_]+)/g)) {
    if (name === undefined) continue;
    parameters.push({ name, in: 'path', required: true, schema: PATH_PARAMS[name] ?? { type: 'string' } });
  }
  if (doc?.query !== undefined) {
    const schema = jsonSchema(doc.query);
    const required = new Set((schema.required as string[] | undefined) ?? []);
    for (const [name, s] of Object.entries((schema.properties as Record<string, Json> | undefined) ?? {})) {
      parameters.push({ name, in: 'query', required: required.has(name), schema: s });
    }
  }
  for (const [name, header] of Object.entries(doc?.headers ?? {})) {
    parameters.push({
      name,
      in: 'header',
      required: false,
      description: header.description,
      schema: jsonSchema(header.schema),
      example: header.example,
    });
  }
  if (parameters.length > 0) op.parameters = parameters;
  if (doc?.body !== undefined) {
    op.requestBody = {
      required: true,
      content: {
        'application/json': {
          schema: jsonSchema(doc.body),
          ...(doc.example.request === undefined ? {} : { example: doc.example.request }),
        },
      },
    };
  } else if (doc?.multipart !== undefined) {
    op.requestBody = {
      required: true,
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            required: ['metadata', 'file'],
            properties: {
              metadata: {
                type: 'string',
                contentMediaType: 'application/json',
                contentSchema: { $ref: '#/components/schemas/SubmissionMetadata' },
                description: 'the metadata JSON document; must come before the file part',
              },
              file: { type: 'string', contentMediaType: 'application/octet-stream' },
            },
          },
          encoding: { metadata: { contentType: 'application/json' } },
        },
      },
    };
  }
  const produces = doc?.produces ?? 'application/json';
  const success: Json = { description: doc?.summary ?? 'undocumented' };
  if (doc !== undefined && doc.emptyBody !== true) {
    success.content = {
      [produces]: {
        schema: produces === 'application/json' ? responses.of(doc.response) : { type: 'string' },
        ...(doc.example.response === undefined ? {} : { example: doc.example.response }),
      },
    };
  }
  const other = Object.fromEntries(
    Object.entries(doc?.otherResponses ?? {}).map(([status, r]) => [
      status,
      {
        description: r.description,
        content: { 'application/json': { schema: responses.of(r.schema), example: r.example } },
      },
    ]),
  );
  op.responses = {
    [String(doc?.status ?? 200)]: success,
    ...errorResponses(routeErrors(route, doc)),
    ...other,
  };
  return op;
}

/**
 * The OpenAPI 3.1 document of the routes the API serves. Routes come from Nest's metadata, so a new one
 * appears here even before it is described in `docs` (then without a summary).
 */
export function buildOpenApi(routes: ServedRoute[], docs: Record<string, RouteDoc>, version: string): Json {
  const paths: Record<string, Json> = {};
  const responses = responseSchemas(docs);
  // A GET handler answers HEAD too (Express): documented where the route says what HEAD does.
  const implicitHeads = routes
    .filter((r) => r.method === 'GET' && docs[`HEAD ${r.path}`] !== undefined)
    .map((r): ServedRoute => ({ ...r, method: 'HEAD' }));
  for (const route of [...routes, ...implicitHeads]) {
    const path = openApiPath(route.path);
    paths[path] = {
      ...paths[path],
      [route.method.toLowerCase()]: operation(route, docs[`${route.method} ${route.path}`], responses),
    };
  }
  const schemas: Record<string, Json> = {
    ErrorCode: { type: 'string', enum: ERROR_CODES },
    Error: {
      type: 'object',
      required: ['error'],
      properties: {
        error: {
          type: 'object',
          required: ['code', 'message'],
          properties: {
            code: { $ref: '#/components/schemas/ErrorCode' },
            message: { type: 'string' },
            details: { type: 'object', additionalProperties: true },
          },
        },
      },
    },
  };
  for (const [name, schema] of Object.entries(NAMED_SCHEMAS)) schemas[name] = jsonSchema(schema);
  Object.assign(schemas, responses.components);
  const codeTable = ERROR_CODES.map((c) => `| ${c} | ${ERROR_STATUS[c]} |`).join('\n');
  return {
    openapi: '3.1.0',
    info: {
      title: 'Specimen',
      version,
      description:
        'Suspicious-sample submission service. Every error has the shape ' +
        '`{"error":{"code","message","details"}}` and every response an `X-Request-Id` header. ' +
        `Roles: ${ROLES.join(', ')} (\`x-roles\` on each operation).\n\n| code | status |\n| --- | --- |\n${codeTable}`,
    },
    servers: [{ url: '/' }],
    tags: [...new Set(Object.values(docs).map((d) => d.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API token or agent key' } },
    },
  };
}
