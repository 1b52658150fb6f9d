// Verify tokens of a live `fastauth serve` the way Node resource servers do, through its metadata and JWKS.
//
//   node verify.mjs '{"issuer": "http://127.0.0.1:PORT", "audience": "fastauth", "tokens": {"name": "eyJ..."}}'
//
// Prints one JSON object: for each token name, what `jose`'s `jwtVerify` (typ "at+jwt") and oauth4webapi's
// `validateJwtAccessToken` (RFC 9068) said: {"ok": true, "claims": {...}} or {"ok": false, "error": "..."}.
// Plain HTTP on 127.0.0.1 only: oauth4webapi is told `allowInsecureRequests` for that.
import * as jose from "jose";
import * as oauth from "oauth4webapi";

const { issuer, audience, tokens } = JSON.parse(process.argv[2]);
const insecure = { [oauth.allowInsecureRequests]: true };

// RFC 8414 discovery: the metadata must name this issuer exactly.
const issuerUrl = new URL(issuer);
const as = await oauth.processDiscoveryResponse(
  issuerUrl,
  await oauth.discoveryRequest(issuerUrl, { algorithm: "oauth2", ...insecure }),
);
const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri));

async function outcome(check) {
  try {
    return { ok: true, claims: await check() };
  } catch (error) {
    return { ok: false, error: `${error.name}: ${error.code ?? ""} ${error.message}` };
  }
}

const results = {};
for (const [name, token] of Object.entries(tokens)) {
  results[name] = {
    jose: await outcome(async () => {
      const { payload } = await jose.jwtVerify(token, jwks, {
        issuer,
        audience,
        typ: "at+jwt",
        requiredClaims: ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"],
      });
      return payload;
    }),
    oauth4webapi: await outcome(async () => {
      const request = new Request("http://resource.example/api", {
        headers: { authorization: `Bearer ${token}` },
      });
      return await oauth.validateJwtAccessToken(as, request, audience, insecure);
    }),
  };
}
console.log(JSON.stringify({ metadata: as, results }));
