// Durable, atomic file writes: the one place that knows how (temporary file, fsync, rename, fsync
// the folder). Readers see the old content or the new one, never a mix, and a process killed
// mid-write leaves at most a stray temporary file, never a truncated target.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * Writes `bytes` to `file` (created or truncated) and fsyncs it before returning.
 * @example writeFileSynced('/tmp/x.bin', new Uint8Array([1, 2, 3]))
 */
export function writeFileSynced(file: string, ...chunks: (Uint8Array | string)[]): void {
  const fd = openSync(file, 'w');
  try {
    for (const chunk of chunks) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      let written = 0;
      while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Fsyncs a folder so a rename inside it survives a crash. Some file systems refuse to fsync a
 * folder; the rename is still atomic there, so that failure is ignored.
 */
export function fsyncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // see above
  }
}

/**
 * Writes `file` atomically and durably from its chunks: a temporary file next to it, fsync,
 * rename over the target, fsync the folder. Creates the folder if needed. On failure the
 * temporary file is removed and an Error naming `file` is thrown.
 * @example writeFileAtomic('out/composition.json', ['{"scale": 1}\n'])
 */
export function writeFileAtomic(file: string, chunks: (Uint8Array | string)[]): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSynced(temp, ...chunks);
    renameSync(temp, file);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // the temporary file was never created
    }
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new Error(`${file}: cannot write (${reason})`, { cause: error });
  }
  fsyncDirectory(dir);
}

/**
 * Writes a JSON document (2-space indented, trailing newline) atomically; see writeFileAtomic.
 * @example writeJsonAtomic('composition.json', { scale: 100, tokens: { web: 100 }, weights: { web: 1 } })
 */
export function writeJsonAtomic(file: string, doc: unknown): void {
  writeFileAtomic(file, [`${JSON.stringify(doc, null, 2)}\n`]);
}
