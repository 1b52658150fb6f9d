// A typed client of a live `fastauth serve`, built the way FastAPI frontends are: openapi-typescript turns the
// served /openapi.json into `api.d.ts` (`paths`), openapi-fetch's `createClient<paths>()` types every call.
// tests/node/test_typescript_client.py generates `api.d.ts`, writes `server.ts` (`export const baseUrl`), checks
// this file with `tsc --noEmit --strict`, then compiles and runs it: it registers, signs in, refreshes, lists
// the sessions, signs out, and shows that the tokens of the ended session are refused. It prints one JSON
// object (what each step answered) and throws on any unexpected answer.
//
// Request bodies and answers come only from the generated types: no cast, no `any`. A route whose body the
// document does not declare takes no `body` here, and an answer typed `unknown` cannot be read field by field,
// so a gap in the document fails the type check.
import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";
import { baseUrl } from "./server.js";

type TokenOut = components["schemas"]["TokenOut"];
type SessionOut = components["schemas"]["SessionOut"];
type ErrorOut = components["schemas"]["ErrorOut"];

const client = createClient<paths>({ baseUrl });
const email = "typescript@example.com";
const password = "correct horse battery";
const steps: Record<string, { status: number; [key: string]: unknown }> = {};

function expect(step: string, response: Response, status: number): void {
  steps[step] = { status: response.status };
  if (response.status !== status) {
    throw new Error(`${step}: ${response.status}, expected ${status}`);
  }
}

function tokens(step: string, pair: TokenOut | undefined): { access: string; refresh: string } {
  // The body delivery: both tokens are there (with cookies they would be null).
  if (pair?.access_token == null || pair.refresh_token == null) {
    throw new Error(`${step}: no token pair in ${JSON.stringify(pair)}`);
  }
  const expiresIn: number | null | undefined = pair.expires_in;
  const tokenType: string | undefined = pair.token_type;
  steps[step] = { ...steps[step], token_type: tokenType, expires_in: expiresIn };
  return { access: pair.access_token, refresh: pair.refresh_token };
}

function refusal(step: string, error: ErrorOut | undefined): string {
  if (error === undefined) {
    throw new Error(`${step}: no error body`);
  }
  const code: string = error.code;
  steps[step] = { ...steps[step], code };
  return code;
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

// Register: 201 and a token pair (the first session).
const registered = await client.POST("/auth/register", { body: { email, password } });
expect("register", registered.response, 201);
tokens("register", registered.data);

// Sign in with the JSON body: 200 and a second session.
const signedIn = await client.POST("/auth/login", {
  body: { email, password }, // login
});
expect("login", signedIn.response, 200);
const first = tokens("login", signedIn.data);

// Refresh: a new pair for the same session.
const refreshed = await client.POST("/auth/refresh", { body: { refresh_token: first.refresh } });
expect("refresh", refreshed.response, 200);
const second = tokens("refresh", refreshed.data);

// The caller's sessions, with the new access token as bearer.
const listed = await client.GET("/auth/sessions", { headers: bearer(second.access) });
expect("sessions", listed.response, 200);
const sessions: SessionOut[] | undefined = listed.data;
if (sessions === undefined) {
  throw new Error("sessions: no body");
}
const current: SessionOut[] = sessions.filter((session) => session.current);
const ids: string[] = sessions.map((session) => session.id);
steps["sessions"] = { ...steps["sessions"], count: sessions.length, current: current.length, ids };

// Sign out with the refresh token (and the access token) of this session.
const signedOut = await client.POST("/auth/logout", {
  body: { refresh_token: second.refresh },
  headers: bearer(second.access),
});
expect("logout", signedOut.response, 204);
const nothing: undefined = signedOut.data;
void nothing;

// The session has ended: its refresh token and its access token are refused, with the error schema.
const again = await client.POST("/auth/refresh", { body: { refresh_token: second.refresh } });
expect("refresh after logout", again.response, 401);
refusal("refresh after logout", again.error);

const after = await client.GET("/auth/sessions", { headers: bearer(second.access) });
expect("sessions after logout", after.response, 401);
refusal("sessions after logout", after.error);

console.log(JSON.stringify(steps));
