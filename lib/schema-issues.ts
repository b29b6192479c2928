// What the three configs (the pipeline config, the data config, the model options) share on top of zod: the
// JSON path of a problem, which of zod's issues a user should read first, and strict objects whose misspelt
// field is named with the list of the right ones. Each config writes its own messages; this module only
// finds the issue and where it is.
import { z } from 'zod';

export type Issue = z.core.$ZodIssue;
export type RawIssue = z.core.$ZodRawIssue;

/** The issue to report and the path of the value it is about (for an unknown field, the field itself). */
export interface FoundIssue {
  issue: Issue;
  /** From the root of the parsed value; for an unknown field, the path of its object followed by its name. */
  path: PropertyKey[];
}

/**
 * A path as JSON paths are written: ["scales", 1] is "scales[1]", ["training", "lr"] is "training.lr", [] is "".
 *
 * @example jsonPath(['domains', 0, 'sources', 2]) // 'domains[0].sources[2]'
 */
export function jsonPath(path: readonly PropertyKey[]): string {
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join('');
}

/**
 * True when an alternative's issues say only that the value at the union's root is not of its type. A number
 * that is not whole, or not finite, is of a number alternative's type: its issue is the one to report.
 */
function rootMismatch(issues: readonly Issue[]): boolean {
  const mismatch = (i: Issue) =>
    i.path.length === 0 && (i.code === 'invalid_value' || (i.code === 'invalid_type' && i.expected !== 'int' && !(i.expected === 'number' && typeof i.input === 'number')));
  return issues.length > 0 && issues.every(mismatch);
}

/**
 * The issue a user should fix first, as a hand-written checker would stop at it: zod's first issue, except that
 * an unknown field outranks every issue inside the object that holds it (a misspelt key explains the rest), and
 * a union that fails is reported through the one alternative whose type the value has (a source object with a
 * bad "format" is about its format, not "neither a string nor an object"). Parse with `reportInput: true`, so
 * that a union can tell a number that is out of range from a value of another type.
 *
 * @example firstIssue(schema.safeParse(raw).error!.issues).path // ['training', 'lr']
 */
export function firstIssue(issues: readonly Issue[]): FoundIssue {
  const first = issues[0];
  if (!first) throw new Error('firstIssue: no issues (the value parsed)');
  let chosen = first;
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const inside = issue.path.length <= chosen.path.length && issue.path.every((key, i) => chosen.path[i] === key);
    if (inside && (chosen.code !== 'unrecognized_keys' || issue.path.length < chosen.path.length)) chosen = issue;
  }
  if (chosen.code === 'invalid_union' && chosen.errors.length > 0) {
    const typed = chosen.errors.filter((branch) => !rootMismatch(branch));
    if (typed.length === 1) {
      const inner = firstIssue(typed[0]!);
      return { issue: inner.issue, path: [...chosen.path, ...inner.path] };
    }
  }
  if (chosen.code === 'unrecognized_keys') return { issue: chosen, path: [...chosen.path, chosen.keys[0]!] };
  return { issue: chosen, path: [...chosen.path] };
}

/** The messages of a strict object: one for a value that is not an object, one for an unknown field. */
export interface SectionMessages {
  /** `fields` lists the known fields, each quoted: '"min", "max"'. */
  unknownField: (fields: string) => string;
  notAnObject: (input: unknown) => string;
}

/**
 * An object with exactly these fields: an unknown one is an issue whose message lists the known ones.
 *
 * @example strictSection({ min: z.number() }, { unknownField: (f) => `unknown field; the fields here are ${f}`, notAnObject: () => 'must be an object' })
 */
export function strictSection<Shape extends z.ZodRawShape>(shape: Shape, messages: SectionMessages) {
  const fields = Object.keys(shape).map((key) => `"${key}"`).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? messages.unknownField(fields) : messages.notAnObject(issue.input)),
  });
}

/**
 * The schema with null read as an absent value (so its default applies), as configs written before the schema
 * were read (`value ?? default`).
 *
 * @example nullAsMissing(z.string().default('byte')).parse(null) // 'byte'
 */
export function nullAsMissing<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === null ? undefined : value), schema);
}
