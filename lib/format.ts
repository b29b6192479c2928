// Number, duration and table formatting for progress lines, CLI tables, reports and error messages.
// Pure functions: a value in, its text out.

/**
 * Token counts with a decimal suffix, three significant digits: for labels and report headings.
 * @example formatTokens(2_000_000) // "2M"; formatTokens(250_000) // "250k"
 */
export function formatTokens(n: number): string {
  if (n >= 1e9) return `${+(n / 1e9).toPrecision(3)}G`;
  if (n >= 1e6) return `${+(n / 1e6).toPrecision(3)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toPrecision(3)}k`;
  return String(n);
}

/**
 * Counts with a suffix and one decimal: for progress lines (tokens, tokens/s).
 * @example formatCount(1234) // "1.2k"; formatCount(2_500_000) // "2.5M"
 */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '?';
  if (Math.abs(n) >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

/**
 * Human durations; "?" for a duration not known (NaN, negative).
 * @example formatDuration(75) // "1:15"; formatDuration(3700) // "1:01:40"
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

/**
 * A DDO multiplier as people write it: fractions of a whole number as 1/k.
 * @example formatMultiplier(3) // "3"; formatMultiplier(1 / 3) // "1/3"; formatMultiplier(0.4) // "0.4"
 */
export function formatMultiplier(x: number): string {
  if (x >= 1) return String(+x.toPrecision(3));
  const inverse = 1 / x;
  return Math.abs(inverse - Math.round(inverse)) < 1e-9 ? `1/${Math.round(inverse)}` : String(+x.toPrecision(3));
}

/**
 * A number in a CLI table: `digits` significant digits, exponent notation outside [1e-3, 1e5).
 * @example formatNumber(0.123456) // "0.1235"; formatNumber(2.5e6) // "2.500e+6"
 */
export function formatNumber(v: number, digits = 4): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(digits - 1) : Number(v.toPrecision(digits)).toString();
}

/**
 * A number in an error or diagnostic message: `digits` significant digits, no trailing zeros.
 * @example formatSignificant(0.1234567, 6) // "0.123457"; formatSignificant(2, 6) // "2"
 */
export function formatSignificant(v: number, digits: number): string {
  return Number(v.toPrecision(digits)).toString();
}

/**
 * A fraction as a percentage with one decimal; "-" for a missing or non-finite value.
 * @example formatPercent(0.215) // "21.5%"; formatPercent(undefined) // "-"
 */
export function formatPercent(w: number | undefined): string {
  return w === undefined || !Number.isFinite(w) ? '-' : `${(100 * w).toFixed(1)}%`;
}

/**
 * Renders rows as left-aligned columns separated by two spaces.
 * @example formatTable([['a', 'bb'], ['ccc', 'd']]) // "a    bb\nccc  d"
 */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}
