// The one error type of the data layer. Every message names the file (and line or byte offset where
// there is one) and says how to fix the input; `code` is stable for programs to branch on.

/** Stable codes of data errors. */
export type DataErrorCode =
  | 'ERR_DATA_CONFIG' // the data config is invalid (names the field)
  | 'ERR_DATA_SOURCE' // a source path is missing, unreadable or matches nothing
  | 'ERR_DATA_UTF8' // a file is not valid UTF-8 (names the byte offset)
  | 'ERR_DATA_JSONL' // a JSONL line is malformed or lacks the text field (names the line)
  | 'ERR_DATA_EMPTY' // a domain has no text, or too little for the split or a window
  | 'ERR_DATA_CACHE' // a cache entry is damaged
  | 'ERR_DATA_SAMPLER'; // the sampler was given impossible quantities or options

/** Where in which file a problem was found. */
export interface DataErrorLocation {
  file?: string;
  /** 1-based line number (JSONL). */
  line?: number;
  /** 0-based byte offset in the file. */
  offset?: number;
}

/**
 * An error in the user's data or data config, with a message a user can act on.
 *
 * @example
 * throw new DataError('ERR_DATA_SOURCE', 'no such file: corpora/books.txt; fix: check the path', { file: 'corpora/books.txt' });
 */
export class DataError extends Error {
  readonly code: DataErrorCode;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly offset: number | undefined;

  constructor(code: DataErrorCode, message: string, location: DataErrorLocation = {}) {
    super(message);
    this.name = 'DataError';
    this.code = code;
    this.file = location.file;
    this.line = location.line;
    this.offset = location.offset;
  }
}
