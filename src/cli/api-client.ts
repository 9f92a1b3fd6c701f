// The CLI's side of the API: one POST in the seed's envelope, or one GET, to the daemon
// on this root. A daemon that cannot be reached is API_UNREACHABLE (exit status 2).
import { loadUndici } from '../util/lazy-undici.ts';
import { errors } from '../errors/catalogue.ts';
import type { ApiResponse } from '../api/envelope.ts';

export async function callApi(apilisten: string, method: string, params: Record<string, unknown>): Promise<ApiResponse> {
  const body = JSON.stringify({ message_id: String(Date.now()), message_type: 'request', message_source: 'bft2-cli', method_name: method, method_params: params });
  let text: string;
  try {
    const { request } = await loadUndici();
    const res = await request(`http://${apilisten}/${method}`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, headersTimeout: 30_000 });
    text = await res.body.text();
  } catch (err) {
    throw errors.API_UNREACHABLE(apilisten, (err as Error).message);
  }
  try {
    return JSON.parse(text) as ApiResponse;
  } catch {
    // Something answers on that address, but not a bft2 daemon (or not this method).
    return { request_message_id: '', reqest_message_id: '', message_type: 'response', method_name: method, return_status: 'false', return_content: { desc: `not a bft2 answer from ${apilisten}/${method}: ${text.slice(0, 200)}` } };
  }
}

export interface GetAnswer {
  status: number;
  /** The body; a JSON string body (the seed's GET answers are quoted) is unquoted. */
  text: string;
}

export async function getApi(apilisten: string, urlPath: string): Promise<GetAnswer> {
  let status: number;
  let body: string;
  try {
    const { request } = await loadUndici();
    const res = await request(`http://${apilisten}${urlPath}`, { method: 'GET', headersTimeout: 30_000 });
    status = res.statusCode;
    body = await res.body.text();
  } catch (err) {
    throw errors.API_UNREACHABLE(apilisten, (err as Error).message);
  }
  let text = body;
  try {
    const v: unknown = JSON.parse(body);
    if (typeof v === 'string') text = v;
  } catch {
    // plain text
  }
  return { status, text };
}
