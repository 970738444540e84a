import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { documentedResponse } from '#test-support';
import { buildOpenApi, openApiPath } from './openapi.js';
import type { ServedRoute } from './route-discovery.js';
import { NAMED_RESPONSES, NAMED_SCHEMAS, ROUTE_DOCS, type RouteDoc } from './route-docs.js';

const entries = Object.entries(ROUTE_DOCS);
/** The routes whose successful answer is a JSON body. */
const jsonRoutes = entries.filter(
  ([, doc]) => doc.emptyBody !== true && (doc.produces ?? 'application/json') === 'application/json',
);
/** The document as the API builds it, over the documented routes. */
const document = buildOpenApi(
  entries.map(([key]): ServedRoute => {
    const [method, path] = key.split(' ') as [ServedRoute['method'], string];
    return { method, path, access: ['admin'] };
  }),
  ROUTE_DOCS,
  '0.0.0',
);
const openApiRoute = (key: string): string => {
  const [method, path] = key.split(' ') as [string, string];
  return `${method} ${openApiPath(path)}`;
};
/** Every JSON answer a route documents: its success, and the others (the readiness 503, an upload's 200). */
const answers = (doc: RouteDoc): [number, z.ZodType | undefined, unknown][] => [
  [doc.status, doc.response, doc.example.response],
  ...Object.entries(doc.otherResponses ?? {}).map(([status, r]): [number, z.ZodType, unknown] => [
    Number(status),
    r.schema,
    r.example,
  ]),
];

describe('route documentation', () => {
  it('gives every route with a JSON answer a response schema, and no other route one', () => {
    assert.ok(jsonRoutes.length > 30);
    for (const [key, doc] of entries) {
      const json = jsonRoutes.some(([k]) => k === key);
      assert.equal(
        doc.response !== undefined,
        json,
        `${key}: a response schema exactly when it answers JSON`,
      );
    }
  });

  it('has request header examples that parse with their schemas, published as header parameters', () => {
    const paths = document.paths as Record<
      string,
      Record<string, { parameters?: Array<{ name: string; in: string; example?: unknown }> }>
    >;
    let headers = 0;
    for (const [key, doc] of entries) {
      for (const [name, header] of Object.entries(doc.headers ?? {})) {
        headers++;
        const parsed = header.schema.safeParse(header.example);
        assert.ok(parsed.success, `${key} ${name}: ${parsed.success ? '' : z.prettifyError(parsed.error)}`);
        const [method, path] = openApiRoute(key).split(' ') as [string, string];
        const published = paths[path]?.[method.toLowerCase()]?.parameters?.find((p) => p.name === name);
        assert.deepEqual([published?.in, published?.example], ['header', header.example], `${key} ${name}`);
      }
    }
    assert.ok(headers > 0);
  });

  it('has examples that parse with their response schemas', () => {
    for (const [key, doc] of jsonRoutes) {
      for (const [status, schema, example] of answers(doc)) {
        assert.ok(schema !== undefined && example !== undefined, `${key} ${status}: schema and example`);
        const parsed = schema.safeParse(example);
        assert.ok(parsed.success, `${key} ${status}: ${parsed.success ? '' : z.prettifyError(parsed.error)}`);
      }
    }
  });

  it('publishes each response schema in the document, strict as in libs/contracts', () => {
    for (const [key, doc] of jsonRoutes) {
      for (const [status, , example] of answers(doc)) {
        const published = documentedResponse(document, openApiRoute(key), status);
        const parsed = published.safeParse(example);
        assert.ok(parsed.success, `${key} ${status}: ${parsed.success ? '' : z.prettifyError(parsed.error)}`);
        // A field the schema does not name is refused by the document too, not let through.
        const widened = Array.isArray(example)
          ? [{ ...(example[0] as object), unknownField: 1 }]
          : { ...(example as object), unknownField: 1 };
        assert.equal(published.safeParse(widened).success, false, `${key} ${status}: an unknown field`);
      }
    }
  });

  it('names each shared view once, as a component the answers refer to', () => {
    const schemas = (document.components as { schemas: Record<string, unknown> }).schemas;
    for (const name of Object.keys(NAMED_RESPONSES)) {
      assert.ok(!Object.hasOwn(NAMED_SCHEMAS, name), `${name} names one schema`);
      assert.notDeepEqual(schemas[name], {}, `${name} is a component`);
    }
    const text = JSON.stringify(document.paths);
    for (const name of ['SampleView', 'RulesetSummaryView', 'RetrohuntView', 'LookupResponse', 'AuditPage']) {
      assert.ok(text.includes(`"#/components/schemas/${name}"`), `${name} is referred to`);
    }
    // A view inside another is referred to, not copied: the sample's analysis is written once.
    assert.ok(JSON.stringify(schemas.SampleView).includes('"#/components/schemas/AnalysisResult"'));
    assert.equal(text.includes('"PeSummary"') || text.includes('"imphash"'), false);
  });
});
