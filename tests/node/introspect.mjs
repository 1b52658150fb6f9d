// Introspect (RFC 7662) and revoke (RFC 7009) at a live `fastauth serve` the way a Node client does with
// oauth4webapi, finding both endpoints through its RFC 8414 metadata; the caller authenticates with a
// bearer credential (an API key, or an access token), as a `ClientAuth` that sets the header.
//
//   node introspect.mjs '{"issuer": "http://127.0.0.1:PORT", "key": "fa_...", "access": "eyJ...", "refresh": "eyJ..."}'
//
// Prints one JSON object: each step's {"ok": true, "value": ...} or {"ok": false, "error" (an RFC 6749
// error body) or "challenges" (the WWW-Authenticate header, which oauth4webapi reads first), "status"}.
// Plain HTTP on 127.0.0.1 only: oauth4webapi is told `allowInsecureRequests` for that.
import * as oauth from "oauth4webapi";

const { issuer, key, access, refresh } = JSON.parse(process.argv[2]);
const insecure = { [oauth.allowInsecureRequests]: true };
const issuerUrl = new URL(issuer);
const as = await oauth.processDiscoveryResponse(
  issuerUrl,
  await oauth.discoveryRequest(issuerUrl, { algorithm: "oauth2", ...insecure }),
);
const client = { client_id: "fastauth" };
const bearer = (token) => (_as, _client, _body, headers) => {
  headers.set("authorization", `Bearer ${token}`);
};

async function outcome(run) {
  try {
    return { ok: true, value: (await run()) ?? null };
  } catch (error) {
    if (error instanceof oauth.WWWAuthenticateChallengeError) {
      const challenges = error.cause.map((c) => ({ scheme: c.scheme, ...c.parameters }));
      return { ok: false, challenges, status: error.status };
    }
    return { ok: false, error: error.error ?? `${error.name}: ${error.message}`, status: error.status ?? null };
  }
}

const introspect = (caller, token) =>
  outcome(async () =>
    oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, bearer(caller), token, insecure),
    ),
  );
const revoke = (caller, token, hint) =>
  outcome(async () =>
    oauth.processRevocationResponse(
      await oauth.revocationRequest(as, client, bearer(caller), token, {
        ...insecure,
        additionalParameters: { token_type_hint: hint },
      }),
    ),
  );

const results = {
  endpoints: { introspection: as.introspection_endpoint, revocation: as.revocation_endpoint },
  live: await introspect(key, access),
  garbage: await introspect(key, "garbage"),
  byAPerson: await introspect(access, access),
  revoked: await revoke(access, refresh, "refresh_token"),
  afterwards: await introspect(key, access),
};
console.log(JSON.stringify(results));
