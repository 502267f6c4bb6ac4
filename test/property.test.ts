// Property-based tests: the three readers of untrusted text (Go durations, the KUBEXIT_*
// environment, other containers' tombstones) on arbitrary input. Each either gives a value that
// keeps its invariants or one error of its own kind: never a crash, never a false death.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ConfigError,
  dnsLabelProblem,
  dnsSubdomainProblem,
  nameProblem,
  parseConfig,
  type Env,
} from '../src/supervisor/config.js';
import { DurationSyntaxError, formatDuration, parseDuration } from '../src/supervisor/duration.js';
import {
  formatTombstone,
  isDead,
  parseCanonical,
  type Tombstone,
} from '../src/supervisor/tombstone.js';
import { parseTombstone, TombstoneSyntaxError } from '../src/supervisor/tombstone-parse.js';

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const RUNS = { numRuns: Number(process.env.PROPERTY_RUNS ?? 1000) };

/** Text with everything a hostile value may hold: any code unit, control characters, lone surrogates. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...'0123456789.+-hmsunµμ '.split('')), maxLength: 12 }),
);

describe('property: Go durations', () => {
  it('any text parses to an int64 or throws DurationSyntaxError, nothing else', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        try {
          const ns = parseDuration(text);
          assert.ok(ns >= INT64_MIN && ns <= INT64_MAX, `${text} → ${ns}`);
        } catch (err) {
          assert.ok(err instanceof DurationSyntaxError, `${text}: ${String(err)}`);
        }
      }),
      RUNS,
    );
  });

  it('every int64 survives format then parse', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), (ns) => {
        assert.equal(parseDuration(formatDuration(ns)), ns);
      }),
      RUNS,
    );
  });

  it('a sum of unit terms means the sum of their nanoseconds', () => {
    const units: [string, bigint][] = [
      ['h', 3_600_000_000_000n],
      ['m', 60_000_000_000n],
      ['s', 1_000_000_000n],
      ['ms', 1_000_000n],
      ['us', 1_000n],
      ['ns', 1n],
    ];
    const term = fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom(...units));
    fc.assert(
      fc.property(fc.array(term, { minLength: 1, maxLength: 6 }), (terms) => {
        const text = terms.map(([n, [u]]) => `${n}${u}`).join('');
        const want = terms.reduce((sum, [n, [, scale]]) => sum + BigInt(n) * scale, 0n);
        assert.equal(parseDuration(text), want);
      }),
      RUNS,
    );
  });
});

const VARIABLES = [
  'KUBEXIT_NAME',
  'KUBEXIT_GRAVEYARD',
  'KUBEXIT_DEATH_DEPS',
  'KUBEXIT_GRACE_PERIOD',
  'KUBEXIT_BIRTH_DEPS',
  'KUBEXIT_BIRTH_TIMEOUT',
  'KUBEXIT_POD_NAME',
  'KUBEXIT_NAMESPACE',
  'KUBEXIT_SERVICE_ACCOUNT_DIR',
  'KUBEXIT_VERBOSE_LEVEL',
  'KUBEXIT_INSTANT_LOGGING',
];

/** Values near the valid ones, so that both valid configs and each kind of refusal come up. */
const value = fc.oneof(
  anyText,
  fc.constantFrom('main', 'a,b', ' a , ,b', '30s', '-1s', '1', 'true', 'x/y', '..', '', 'pod-1'),
  fc.integer().map(String),
);

const environment: fc.Arbitrary<Env> = fc.dictionary(
  fc.oneof(fc.constantFrom(...VARIABLES), fc.string({ maxLength: 12 })),
  value,
  { maxKeys: 14 },
);

describe('property: the KUBEXIT_* environment', () => {
  it('any environment gives a valid Config or one ConfigError naming a KUBEXIT_ variable', () => {
    fc.assert(
      fc.property(environment, (env) => {
        let config;
        try {
          config = parseConfig(env);
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          assert.ok(VARIABLES.includes(err.variable), err.variable);
          assert.equal(err.value, env[err.variable]);
          assert.ok(err.message.startsWith(err.variable), err.message);
          assert.ok(!err.message.includes('\n'), 'one line');
          return;
        }
        assert.equal(nameProblem(config.name), undefined);
        for (const dep of config.deathDeps) assert.equal(nameProblem(dep), undefined);
        for (const dep of config.birthDeps) assert.equal(dnsLabelProblem(dep), undefined);
        assert.ok(config.gracePeriod >= 0n && config.birthTimeout >= 0n);
        assert.ok(Number.isSafeInteger(config.verboseLevel));
        // With birth deps, the pod is named whole (the API is used) or not at all (tombstones).
        if (config.birthDeps.length > 0 && (config.podName !== '' || config.namespace !== '')) {
          assert.equal(dnsSubdomainProblem(config.podName), undefined);
          assert.equal(dnsLabelProblem(config.namespace), undefined);
        }
      }),
      RUNS,
    );
  });

  it('a valid name and graveyard survive any other bad value, so the tombstone can be written', () => {
    fc.assert(
      fc.property(environment, (env) => {
        const withName = { ...env, KUBEXIT_NAME: 'main', KUBEXIT_GRAVEYARD: '/graveyard' };
        try {
          parseConfig(withName);
        } catch (err) {
          assert.ok(err instanceof ConfigError);
          assert.deepEqual(err.partial, { name: 'main', graveyard: '/graveyard' });
        }
      }),
      RUNS,
    );
  });
});

const TIME = fc
  .date({
    min: new Date('1970-01-01T00:00:00Z'),
    max: new Date('2999-12-31T23:59:59Z'),
    noInvalidDate: true,
  })
  .map((d) => d.toISOString());

const tombstone: fc.Arbitrary<Tombstone> = fc.record(
  { born: TIME, died: TIME, exitCode: fc.integer({ min: -1, max: 255 }) },
  { requiredKeys: [], noNullPrototype: true },
);

describe('property: tombstones from other containers', () => {
  it('arbitrary bytes: never a crash, never a death without a Died key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = Buffer.from(bytes).toString('utf8');
        for (const read of [parseCanonical, parseTombstone]) {
          let t: Tombstone | undefined;
          try {
            t = read(text);
          } catch (err) {
            assert.ok(err instanceof TombstoneSyntaxError, String(err));
            continue;
          }
          if (t !== undefined && isDead(t)) assert.match(text, /died/i);
        }
      }),
      RUNS,
    );
  });

  it('text near the real shape: a death is read only where a Died time is written', () => {
    const line = fc.oneof(
      TIME.map((t) => `Born: "${t}"`),
      TIME.map((t) => `Died: "${t}"`),
      TIME.map((t) => `died: ${t}`),
      fc.integer().map((n) => `ExitCode: ${n}`),
      fc.constantFrom('Died:', 'Died: null', 'Died: ""', 'Died: now', '{}', '- a', '', '#'),
      anyText,
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 5 }), (lines) => {
        const text = lines.join('\n');
        for (const read of [parseCanonical, parseTombstone]) {
          let t: Tombstone | undefined;
          try {
            t = read(text);
          } catch (err) {
            assert.ok(err instanceof TombstoneSyntaxError, String(err));
            continue;
          }
          if (t?.died !== undefined) assert.ok(text.includes(t.died), `${text} → ${t.died}`);
        }
      }),
      RUNS,
    );
  });

  it("what kubexit writes, both readers read back as written (Go's bytes)", () => {
    fc.assert(
      fc.property(tombstone, (t) => {
        const text = formatTombstone(t);
        // The fast decoder may pass ("{}", nothing known yet) but never misread.
        const fast = parseCanonical(text);
        if (fast !== undefined) assert.deepEqual(fast, t);
        assert.deepEqual(parseTombstone(text), t);
      }),
      RUNS,
    );
  });
  it('with the ending keys after ExitCode (any dependency name in Reason), both readers still read the Go part', () => {
    const name = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
      .filter((n) => nameProblem(n) === undefined);
    const ending = fc.record(
      {
        childExitCode: fc.integer({ min: 0, max: 255 }),
        childSignal: fc.constantFrom('SIGTERM', 'SIGKILL', 'SIGSEGV'),
        reason: name.map((n) => `death dependency ${n}`),
      },
      { requiredKeys: ['reason'], noNullPrototype: true },
    );
    fc.assert(
      fc.property(tombstone, ending, (t, e) => {
        const text = formatTombstone({ ...t, ...e });
        const fast = parseCanonical(text);
        if (fast !== undefined) assert.deepEqual(fast, t);
        assert.deepEqual(parseTombstone(text), t);
      }),
      RUNS,
    );
  });
});
