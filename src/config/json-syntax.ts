// Reads config.json's JSON and, when it is not JSON, says where and what in words an
// operator can act on: `line 3, column 12: ...`. JSON.parse decides what is valid; on a
// failure jsonc-parser's scanner finds the spot (V8's messages give no position for an
// unexpected token, and quote the text around it). Never quotes the text: a word or a
// number at the error may be part of a key (`"obssk": TOPSECRET`), so only punctuation is
// quoted and anything else is described ("an unquoted word").
// Owns: this wording. Must not touch: the schema (load-config.ts and checkconfig validate).
import { parse, ParseErrorCode, type ParseError } from 'jsonc-parser';

export type JsonRead = { ok: true; value: unknown } | { ok: false; problem: string };

/** Editors on Windows may save a byte order mark; it is not part of the JSON. */
const BOM = '\uFEFF';

/** Parses config text; a syntax error becomes `not JSON: line L, column C: <what>`. */
export function readJsonText(text: string): JsonRead {
  const body = text.startsWith(BOM) ? text.slice(1) : text;
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch (err) {
    return { ok: false, problem: `not JSON: ${describeJsonSyntaxError(body, err)}` };
  }
}

/** Line and column (1-based; the column counts characters, not bytes) of an offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: [...before.slice(lineStart)].length + 1 };
}

const PUNCTUATION = new Set(['{', '}', '[', ']', ':', ',', '"', "'", '/', '\\']);

/** What stands at an offset, without quoting anything but punctuation. */
function found(text: string, offset: number): string {
  if (offset >= text.length) return 'the text ends';
  const ch = String.fromCodePoint(text.codePointAt(offset)!);
  if (PUNCTUATION.has(ch)) return `found '${ch}'`;
  if (/[\p{L}_$]/u.test(ch)) return 'found an unquoted word';
  if (/[\d.+-]/.test(ch)) return 'found a number';
  return `found the character U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The offset of the last non-blank character before `offset`, or -1. */
function previousToken(text: string, offset: number): number {
  let i = offset - 1;
  while (i >= 0 && /\s/.test(text[i])) i--;
  return i;
}

function at(text: string, offset: number): string {
  const { line, column } = lineColumn(text, offset);
  return `line ${line}, column ${column}`;
}

/** Inside a string token the scanner reports the token's start: the offset of the culprit itself. */
function within(text: string, e: ParseError, culprit: RegExp): number {
  const i = text.slice(e.offset, e.offset + e.length).search(culprit);
  return i < 0 ? e.offset : e.offset + i;
}

function what(text: string, e: ParseError, then?: ParseError): string {
  const prev = previousToken(text, e.offset);
  const afterComma = prev >= 0 && text[prev] === ',';
  switch (e.error) {
    case ParseErrorCode.CommaExpected: {
      // The parser notices at the next value; the comma belongs after the previous one.
      const where = prev >= 0 ? lineColumn(text, prev + 1) : lineColumn(text, e.offset);
      const here = lineColumn(text, e.offset);
      return where.line !== here.line
        ? `${at(text, prev + 1)}: ',' missing at the end of line ${where.line} (the next key or value starts at line ${here.line}, column ${here.column})`
        : `${at(text, e.offset)}: ',' or a closing bracket expected, ${found(text, e.offset)}`;
    }
    case ParseErrorCode.PropertyNameExpected:
      return afterComma && text[e.offset] === '}'
        ? `${at(text, prev)}: a ',' before '}' (JSON allows no trailing comma)`
        : `${at(text, e.offset)}: a key in double quotes expected, ${found(text, e.offset)}`;
    case ParseErrorCode.ValueExpected:
      if (afterComma && text[e.offset] === ']') return `${at(text, prev)}: a ',' before ']' (JSON allows no trailing comma)`;
      return `${at(text, e.offset)}: a value expected, ${found(text, e.offset)}`;
    case ParseErrorCode.InvalidSymbol: {
      const first = text[e.offset];
      if (first === "'") return `${at(text, e.offset)}: strings need double quotes ("), not single ones`;
      if (first === BOM) return `${at(text, e.offset)}: a byte order mark inside the text`;
      if (then?.error === ParseErrorCode.PropertyNameExpected && /[\p{L}_$]/u.test(first)) return `${at(text, e.offset)}: keys need double quotes, found an unquoted word`;
      if (e.length > 1 && /[\p{L}_$]/u.test(first)) return `${at(text, e.offset)}: an unquoted word where a value belongs (strings need double quotes, and true, false and null are the only bare words)`;
      return `${at(text, e.offset)}: not JSON here, ${found(text, e.offset)}`;
    }
    case ParseErrorCode.ColonExpected:
      return `${at(text, e.offset)}: ':' expected after the key, ${found(text, e.offset)}`;
    case ParseErrorCode.CloseBraceExpected:
      return `${at(text, e.offset)}: '}' expected to close the object, ${found(text, e.offset)}`;
    case ParseErrorCode.CloseBracketExpected:
      return `${at(text, e.offset)}: ']' expected to close the list, ${found(text, e.offset)}`;
    case ParseErrorCode.EndOfFileExpected:
      return `${at(text, e.offset)}: more text after the end of the JSON object, ${found(text, e.offset)}`;
    case ParseErrorCode.InvalidCommentToken:
    case ParseErrorCode.UnexpectedEndOfComment:
      return `${at(text, e.offset)}: comments are not JSON (write a "//key": "..." entry instead)`;
    case ParseErrorCode.UnexpectedEndOfString:
      return `${at(text, e.offset)}: a string that does not end on its line (a '"' missing?)`;
    case ParseErrorCode.InvalidCharacter:
      return `${at(text, within(text, e, /[\u0000-\u001f]/))}: a control character (a tab or line break) inside a string; write it as \\t or \\n`;
    case ParseErrorCode.InvalidEscapeCharacter:
      return `${at(text, within(text, e, /\\[^"\\/bfnrtu]/))}: a '\\' inside a string must be followed by one of " \\ / b f n r t u (write \\\\ for a backslash)`;
    case ParseErrorCode.InvalidUnicode:
      return `${at(text, within(text, e, /\\u(?![0-9a-fA-F]{4})/))}: \\u must be followed by four hexadecimal digits`;
    case ParseErrorCode.UnexpectedEndOfNumber:
    case ParseErrorCode.InvalidNumberFormat:
      return `${at(text, e.offset)}: a number that is cut short or malformed`;
    default:
      return `${at(text, e.offset)}: syntax error, ${found(text, e.offset)}`;
  }
}

/** Where and what the first syntax error of `text` is (JSON.parse's error as a fallback for the position). */
export function describeJsonSyntaxError(text: string, err: unknown): string {
  if (text.trim() === '') return 'the file is empty';
  const errors: ParseError[] = [];
  parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  if (errors.length) return what(text, errors[0], errors[1]);
  // Cases the scanner lets through (a leading zero: `01`): V8's position, never its text.
  const pos = /at position (\d+)/.exec((err as Error)?.message ?? '');
  return pos ? `${at(text, Number(pos[1]))}: syntax error, ${found(text, Number(pos[1]))}` : 'syntax error';
}

/**
 * A string key of a text that is not valid JSON, read as well as the broken text allows
 * (jsonc-parser parses around errors); undefined when it cannot be found.
 */
export function salvageString(text: string, key: string): string | undefined {
  const body = text.startsWith(BOM) ? text.slice(1) : text;
  const value: unknown = parse(body, [], { allowTrailingComma: true });
  const v = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return typeof v === 'string' ? v : undefined;
}
