import { createHash } from 'node:crypto';
import { basename } from 'node:path';

import { type NativeAddon, type NativeCompileResult, type NativeDiagnostic, native } from './native-addon.js';
import { type SourceChunk, splitSource } from './rule-splitter.js';
import { YaraError, YaraRules, toYaraError } from './yara-rules.js';
import type { CompileDiagnostic, CompileOptions, RuleSource } from './yara.types.js';

/** Outcome of {@link compileRules}. */
export interface CompileResult {
  /** Compiled rules without the quarantined ones; null when no rule compiled. */
  rules: YaraRules | null;
  /** Errors (one per quarantined rule or left-out directive) and warnings, in source order. */
  diagnostics: CompileDiagnostic[];
  /** Identifiers of the rules left out because they, or a rule they reference, failed to compile. */
  quarantined: string[];
  /** Rules in `rules`, private and global ones included. */
  ruleCount: number;
}

type ItemState = 'pending' | 'good' | 'bad';

interface Item {
  source: number;
  chunk: SourceChunk;
  state: ItemState;
  /** The chunk's text, and its newlines alone: what stands in for it when left out. */
  text: string;
  newlines: string;
}

/** Smallest window of unverified rules compiled together while hunting for bad rules. */
const MIN_WINDOW = 16;

/**
 * Compiles YARA sources. When everything compiles, that single compile is the result. Otherwise each
 * source is split into its top-level rules and the failing ones are found and left out (quarantined),
 * with their errors, so one bad rule does not take the ruleset down. A rule that references a
 * quarantined rule fails in turn and is quarantined too.
 *
 * libyara's compiler stops at the first error, so the search compiles growing windows of unverified
 * rules (after stand-ins for the rules already verified) and restarts after each error: cost grows with
 * the number of bad rules, not with the square of the ruleset.
 *
 * Runs synchronously on the calling thread (about 1-2 s for 5,000 rules, the event loop stopped
 * meanwhile): a server compiles with {@link compileRulesAsync}. Cache the result with
 * {@link YaraRules.save} and {@link loadRules}.
 */
export function compileRules(sources: RuleSource[], options: CompileOptions = {}): CompileResult {
  const steps = new QuarantiningCompiler(sources, options).run();
  let step = steps.next();
  while (step.done !== true) {
    const request = step.value;
    step = steps.next(nativeCompile(() => native().compile(...request)));
  }
  return step.value;
}

/**
 * {@link compileRules} with libyara's work on the libuv thread pool: the event loop keeps turning during
 * a large compile (only splitting and error bookkeeping, which are quick, run on the calling thread).
 * One compile runs at a time per process; others wait for it on the pool.
 */
export async function compileRulesAsync(
  sources: RuleSource[],
  options: CompileOptions = {},
): Promise<CompileResult> {
  const steps = new QuarantiningCompiler(sources, options).run();
  let step = steps.next();
  while (step.done !== true) {
    const request = step.value;
    step = steps.next(await nativeCompileAsync(() => native().compileAsync(...request)));
  }
  return step.value;
}

/** The arguments of one native compile, as the quarantining search asks for it. */
type CompileRequest = Parameters<NativeAddon['compile']>;

function nativeCompile(call: () => NativeCompileResult): NativeCompileResult {
  try {
    return call();
  } catch (error) {
    throw toYaraError(error);
  }
}

async function nativeCompileAsync(call: () => Promise<NativeCompileResult>): Promise<NativeCompileResult> {
  try {
    return await call();
  } catch (error) {
    throw toYaraError(error);
  }
}

/**
 * What compiled rules depend on besides their source texts: libyara's version, the namespaces and the
 * compile options (declared externals, includes). Rules saved with {@link YaraRules.save} are only loaded
 * in place of a compile where this tag is the same; name stored compiled rules with it.
 */
export function compileTag(namespaces: string[], options: CompileOptions = {}): string {
  const inputs = JSON.stringify([namespaces, options.externals ?? {}, options.allowIncludes ?? false]);
  return `${native().version()}-${createHash('sha256').update(inputs).digest('hex').slice(0, 16)}`;
}

/** Loads rules written by {@link YaraRules.save} with the same libyara version. */
export function loadRules(path: string): YaraRules {
  try {
    return new YaraRules(native().loadRules(path));
  } catch (error) {
    throw toYaraError(error);
  }
}

class QuarantiningCompiler {
  readonly #sources: RuleSource[];
  readonly #namespaces: string[];
  readonly #externals: Record<string, string | number | boolean>;
  readonly #allowIncludes: boolean;
  readonly #errors: Array<{ sourceIndex: number; diagnostic: CompileDiagnostic }> = [];
  #items: Item[][] = [];
  #rules: Item[] = [];
  #referenced = new Set<string>();

  constructor(sources: RuleSource[], options: CompileOptions) {
    this.#sources = sources;
    this.#namespaces = sources.map((s) => s.namespace ?? 'default');
    this.#externals = options.externals ?? {};
    this.#allowIncludes = options.allowIncludes ?? false;
  }

  /**
   * The search, as a generator: it yields each native compile it needs and is resumed with its result,
   * so the same steps run synchronously ({@link compileRules}) or on the thread pool ({@link compileRulesAsync}).
   */
  *run(): Generator<CompileRequest, CompileResult, NativeCompileResult> {
    const first = yield this.#compile(
      this.#sources.map((s) => s.source),
      true,
    );
    if (first.errorCount === 0) return this.#finish(first);

    this.#split();
    // libyara stops at a rule name defined twice with a line of its own choosing (not always the
    // duplicate's), which would quarantine the first definition, the one that runs: the later ones go first.
    if (this.#quarantineDuplicates() === 0) this.#blame(first);
    yield* this.#searchBadRules();

    // Everything left was verified, but only next to stand-ins: the real build can still (rarely) fail.
    for (;;) {
      const result = yield this.#compile(
        this.#sources.map((_, i) => this.#render(i, (item) => (item.state === 'bad' ? 'blank' : 'original'))),
        true,
      );
      if (result.errorCount === 0) return this.#finish(result);
      this.#blame(result);
    }
  }

  #compile(texts: string[], build: boolean): CompileRequest {
    return [
      texts.map((source, i) => ({ source, namespace: this.#namespaces[i] ?? 'default' })),
      this.#externals,
      { build, allowIncludes: this.#allowIncludes },
    ];
  }

  #split(): void {
    const wordCounts = new Map<string, number>();
    this.#items = this.#sources.map((source, index) => {
      const split = splitSource(source.source);
      for (const [word, count] of split.wordCounts) wordCounts.set(word, (wordCounts.get(word) ?? 0) + count);
      return split.chunks.map((chunk): Item => {
        const text = source.source.slice(chunk.start, chunk.end);
        const newlines = '\n'.repeat(text.split('\n').length - 1);
        return { source: index, chunk, state: 'pending', text, newlines };
      });
    });
    this.#rules = this.#items.flat().filter((item) => item.chunk.kind === 'rule');
    // A verified rule needs a stand-in only if its name occurs beyond its own header.
    for (const item of this.#rules) {
      const name = item.chunk.name;
      if (name !== undefined && (wordCounts.get(name) ?? 0) > 1) this.#referenced.add(name);
    }
  }

  /**
   * Every definition of a rule name after the first in its namespace is quarantined, with an error at its
   * own line naming the first, which is kept. Returns how many were.
   */
  #quarantineDuplicates(): number {
    const first = new Map<string, Item>();
    let count = 0;
    for (const item of this.#rules) {
      const name = item.chunk.name;
      if (name === undefined) continue;
      const key = `${this.#namespaces[item.source] ?? 'default'}:${name}`;
      const kept = first.get(key);
      if (kept === undefined) {
        first.set(key, item);
        continue;
      }
      item.state = 'bad';
      count++;
      const fileName = this.#sources[item.source]?.fileName;
      this.#errors.push({
        sourceIndex: item.source,
        diagnostic: {
          severity: 'error',
          ...(fileName === undefined ? {} : { fileName }),
          namespace: this.#namespaces[item.source] ?? 'default',
          line: item.chunk.startLine,
          rule: name,
          message: `duplicated identifier "${name}": a rule of this name is defined at line ${kept.chunk.startLine}${kept.source === item.source ? '' : ' of another source'}, which is kept`,
        },
      });
    }
    return count;
  }

  /** Compiles windows of pending rules after stand-ins for the verified ones, growing on success. */
  *#searchBadRules(): Generator<CompileRequest, void, NativeCompileResult> {
    const total = this.#rules.length;
    let lo = 0;
    let window = total;
    while (lo < total) {
      const hi = Math.min(total, lo + window);
      const inWindow = new Set(this.#rules.slice(lo, hi));
      const result = yield this.#compile(
        this.#sources.map((_, i) =>
          this.#render(i, (item) => {
            if (item.state === 'bad') return 'blank';
            if (item.chunk.kind !== 'rule') return 'original';
            if (inWindow.has(item)) return 'original';
            return item.state === 'good' ? 'stub' : 'blank';
          }),
        ),
        false,
      );
      if (result.errorCount === 0) {
        for (let i = lo; i < hi; i++) this.#setState(i, 'good');
        lo = hi;
        window *= 2;
        continue;
      }
      const culprit = this.#blame(result);
      const index = culprit === undefined ? -1 : this.#rules.indexOf(culprit);
      if (index >= lo && index < hi) {
        for (let i = lo; i < index; i++) this.#setState(i, 'good');
        lo = index + 1;
        window = Math.max(MIN_WINDOW, Math.ceil(window / 2));
      }
      while (lo < total && this.#rules[lo]?.state === 'bad') lo++;
    }
  }

  #setState(index: number, state: ItemState): void {
    const item = this.#rules[index];
    if (item !== undefined && item.state !== 'bad') item.state = state;
  }

  #render(sourceIndex: number, mode: (item: Item) => 'original' | 'stub' | 'blank'): string {
    const text = this.#sources[sourceIndex]?.source ?? '';
    const parts: string[] = [];
    let position = 0;
    for (const item of this.#items[sourceIndex] ?? []) {
      const { start, end, name } = item.chunk;
      if (start > position) parts.push(text.slice(position, start));
      const how = mode(item);
      if (how === 'original') {
        parts.push(item.text);
      } else if (how === 'stub' && name !== undefined && this.#referenced.has(name)) {
        // Same line count as the original so libyara's line numbers stay those of the caller's text.
        parts.push(`rule ${name} { condition: false }`, item.newlines);
      } else {
        parts.push(item.newlines);
      }
      position = end;
    }
    parts.push(text.slice(position));
    return parts.join('');
  }

  /** Records the first error of a failed compile and marks what caused it as bad. */
  #blame(result: NativeCompileResult): Item | undefined {
    const error = result.diagnostics.find((d) => d.severity === 'error');
    if (error === undefined) {
      throw new Error('libyara reported compile errors without a message');
    }
    const culprit = this.#locate(error);
    const quarantinedNames = new Set(this.#quarantinedIn(error.sourceIndex));
    const diagnostic = this.#diagnostic(error, culprit?.chunk.name, quarantinedNames);
    // Line 0 is libyara's end of input: the error is at the end of the rule it ran into.
    if (error.line <= 0 && culprit !== undefined) diagnostic.line = culprit.chunk.endLine;
    if (culprit === undefined) {
      // Nothing to pin it on: give up on the whole source rather than loop.
      const left = (this.#items[error.sourceIndex] ?? []).filter((item) => item.state !== 'bad');
      if (left.length === 0) {
        throw new YaraError(
          `cannot compile: ${diagnostic.message} (line ${diagnostic.line})`,
          'YARA_ERROR_COMPILE',
        );
      }
      for (const item of left) item.state = 'bad';
    } else {
      culprit.state = 'bad';
    }
    this.#errors.push({ sourceIndex: error.sourceIndex, diagnostic });
    return culprit;
  }

  #quarantinedIn(sourceIndex: number): string[] {
    const namespace = this.#namespaces[sourceIndex];
    return this.#rules
      .filter((item) => item.state === 'bad' && this.#namespaces[item.source] === namespace)
      .map((item) => item.chunk.name ?? '');
  }

  #locate(error: NativeDiagnostic): Item | undefined {
    const items = (this.#items[error.sourceIndex] ?? []).filter((item) => item.state !== 'bad');
    const ownFile = this.#sources[error.sourceIndex]?.fileName;
    if (error.fileName !== null && error.fileName !== ownFile) {
      // The error is inside an included file: blame the include directive.
      const includes = items.filter((item) => item.text.startsWith('include'));
      const named = includes.find((item) => item.text.includes(basename(error.fileName ?? '')));
      return named ?? includes[0];
    }
    if (error.line <= 0) {
      // The end of the input came before a rule was closed (libyara may name an earlier rule then): the
      // last unclosed rule, or else the last item, not the first.
      return (
        items.filter((item) => item.chunk.kind === 'rule' && !item.chunk.wellFormed).at(-1) ?? items.at(-1)
      );
    }
    if (error.rule !== null) {
      const named = items.filter((item) => item.chunk.kind === 'rule' && item.chunk.name === error.rule);
      const containing = named.find(
        (item) => item.chunk.startLine <= error.line && error.line <= item.chunk.endLine,
      );
      const before = named.filter((item) => item.chunk.startLine <= error.line).at(-1);
      const found = containing ?? before;
      if (found !== undefined) return found;
    }
    const onLine = items.filter(
      (item) => item.chunk.startLine <= error.line && error.line <= item.chunk.endLine,
    );
    if (onLine.length > 0) {
      // Stray text (never valid YARA at the top level: a byte-order mark, a word before `rule`) is what the
      // parser tripped on, not the rule that follows it on the same line.
      return (
        onLine.find((item) => item.chunk.kind === 'rule' && !item.chunk.wellFormed) ??
        onLine.find((item) => item.chunk.kind === 'other') ??
        onLine.at(-1)
      );
    }
    // Past the last item (an unexpected end of file) or between items: the nearest item before.
    return items.filter((item) => item.chunk.endLine < error.line).at(-1) ?? items[0];
  }

  #diagnostic(d: NativeDiagnostic, rule: string | undefined, quarantined?: Set<string>): CompileDiagnostic {
    const source = this.#sources[d.sourceIndex];
    let message = d.message;
    const dependency = /^undefined identifier "([^"]+)"$/.exec(message)?.[1];
    if (dependency !== undefined && quarantined?.has(dependency)) {
      message += ` (rule "${dependency}" was quarantined)`;
    } else if (!this.#allowIncludes && message.startsWith('callback failed to provide include resource')) {
      message += ' (includes are disabled)';
    }
    const fileName = d.fileName ?? source?.fileName;
    const ruleName = rule ?? d.rule ?? undefined;
    return {
      severity: d.severity,
      ...(fileName === undefined ? {} : { fileName }),
      namespace: this.#namespaces[d.sourceIndex] ?? 'default',
      line: d.line,
      ...(ruleName === undefined ? {} : { rule: ruleName }),
      message,
    };
  }

  #finish(result: NativeCompileResult): CompileResult {
    const warnings = result.diagnostics
      .filter((d) => d.severity === 'warning')
      .map((d) => ({ sourceIndex: d.sourceIndex, diagnostic: this.#diagnostic(d, undefined) }));
    const diagnostics = [...this.#errors, ...warnings]
      .sort((a, b) => a.sourceIndex - b.sourceIndex || a.diagnostic.line - b.diagnostic.line)
      .map((entry) => entry.diagnostic);
    // A rule without a name (`rule { … }`) is left out too, and named by its diagnostic only.
    const quarantined = this.#rules.flatMap((item) =>
      item.state === 'bad' && item.chunk.name !== undefined ? [item.chunk.name] : [],
    );
    const nativeRules = result.rules;
    const ruleCount = nativeRules?.ruleCount ?? 0;
    if (nativeRules !== null && ruleCount === 0) nativeRules.destroy();
    return {
      rules: nativeRules !== null && ruleCount > 0 ? new YaraRules(nativeRules) : null,
      diagnostics,
      quarantined,
      ruleCount,
    };
  }
}
