// The seed's JSON envelope (SPEC §9): request parsing and response building. Both id
// spellings are written because the seed documents one and its server sent the other.
import { errors } from '../errors/catalogue.ts';

export interface ApiRequest {
  messageId: string;
  method: string;
  params: Record<string, unknown>;
}

export interface ApiResponse {
  request_message_id: string;
  reqest_message_id: string;
  message_type: 'response';
  method_name: string;
  return_status: 'true' | 'false';
  return_content: Record<string, unknown>;
}

export function respond(messageId: string, method: string, ok: boolean, content: Record<string, unknown>): ApiResponse {
  return {
    request_message_id: messageId,
    reqest_message_id: messageId,
    message_type: 'response',
    method_name: method,
    return_status: ok ? 'true' : 'false',
    return_content: content,
  };
}

/** Parses a request body; the method comes from `method_name`, else from the URL path. */
export function parseRequest(body: string, pathMethod: string): ApiRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    throw errors.REQUEST_NOT_JSON((err as Error).message);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw errors.REQUEST_BAD_ENVELOPE('the body must be a JSON object');
  const r = raw as Record<string, unknown>;
  const params = r.method_params ?? {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw errors.REQUEST_BAD_ENVELOPE('method_params must be an object');
  const method = typeof r.method_name === 'string' && r.method_name !== '' ? r.method_name : pathMethod;
  return { messageId: r.message_id === undefined ? '' : String(r.message_id), method, params: params as Record<string, unknown> };
}

/** A required string parameter. */
export function requireParam(params: Record<string, unknown>, name: string): string {
  const v = params[name];
  if (typeof v !== 'string' || v.trim() === '') throw errors.MISSING_PARAM(name);
  return v.trim();
}

/** `reactive`: "true"/"false" or a boolean; absent means `fallback`. */
export function parseReactive(params: Record<string, unknown>, fallback: boolean): boolean {
  const v = params.reactive;
  if (v === undefined || v === '') return fallback;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw errors.REACTIVE_INPUT();
}
