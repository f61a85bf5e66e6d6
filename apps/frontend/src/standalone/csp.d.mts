import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";

export function newNonce(): string;
export function contentSecurityPolicy(nonce: string): string;
export function needsCsp(url: string | undefined): boolean;
export function withCsp<
  Req extends typeof IncomingMessage = typeof IncomingMessage,
  Res extends typeof ServerResponse<InstanceType<Req>> = typeof ServerResponse,
>(listener: RequestListener<Req, Res>): RequestListener<Req, Res>;
