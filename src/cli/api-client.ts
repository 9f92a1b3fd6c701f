// The CLI's side of the API: one POST in the seed's envelope to the daemon on this root.
import { request } from 'undici';
import { errors } from '../errors/catalogue.ts';
import type { ApiResponse } from '../api/envelope.ts';

export async function callApi(apilisten: string, method: string, params: Record<string, unknown>): Promise<ApiResponse> {
  const body = JSON.stringify({ message_id: String(Date.now()), message_type: 'request', message_source: 'bft2-cli', method_name: method, method_params: params });
  try {
    const res = await request(`http://${apilisten}/${method}`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, headersTimeout: 30_000 });
    return (await res.body.json()) as ApiResponse;
  } catch (err) {
    throw errors.API_UNREACHABLE(apilisten, (err as Error).message);
  }
}
