// A minimal verdict webhook receiver for siop-verifier: Node.js 20+, no npm dependencies.
//
//   VERIFIER_URL=http://127.0.0.1:8080 WEBHOOK_SECRET=whsec_... PORT=8090 OUTPUT=verdicts.jsonl \
//       node receiver.mjs
//
// POST /verdicts:
// 1. Standard Webhooks v1: HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>" with the shared
//    whsec_ secret, compared in constant time; the timestamp must be within 5 minutes of now.
// 2. The body is a compact JWT (typ verdict+jwt) signed with a key from the verifier's
//    /.well-known/jwks.json. The JWKS is cached and fetched again once when a kid is unknown (rotation).
// 3. At-least-once delivery: dedupe by webhook-id. Duplicates are acknowledged (2xx), not processed again.
// 4. Each accepted verdict's claims are appended as one JSON line to OUTPUT (stand-in for your business
//    logic). Bad signatures and bad verdicts get 400; a JWKS outage gets 503 so the verifier retries.

import { createHmac, createPublicKey, timingSafeEqual, verify } from "node:crypto";
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";

const VERIFIER_URL = (process.env.VERIFIER_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
const ISSUER = process.env.VERIFIER_ISSUER ?? VERIFIER_URL; // the verifier's public URL, if it differs
const SECRETS = (process.env.WEBHOOK_SECRET ?? "").split(/\s+/).filter(Boolean); // several while rotating
const HOST = process.env.HOST ?? "127.0.0.1";
const PORT = Number(process.env.PORT ?? "8090");
const OUTPUT = process.env.OUTPUT ?? "verdicts.jsonl";

const TOLERANCE_SECONDS = 5 * 60;
const MAX_BODY_BYTES = 1 << 20;
// alg -> how node:crypto verifies it. JWS ECDSA signatures are r||s ("ieee-p1363"), not DER.
const ALGORITHMS = {
  ES256: { hash: "sha256", crv: "P-256" },
  ES384: { hash: "sha384", crv: "P-384" },
  EdDSA: { hash: null, crv: "Ed25519" },
};

if (SECRETS.length === 0) throw new Error("WEBHOOK_SECRET is required");

class Rejected extends Error {} // not authentic or not a verdict: 400
class JwksUnavailable extends Error {} // cannot fetch the keys now: 503, the verifier retries

const secretKey = (secret) => Buffer.from(secret.replace(/^whsec_/, ""), "base64");

function checkSignature(headers, body) {
  const msgId = headers["webhook-id"] ?? "";
  const timestamp = headers["webhook-timestamp"] ?? "";
  if (!msgId || !/^\d+$/.test(timestamp)) throw new Rejected("missing webhook-id or webhook-timestamp");
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) {
    throw new Rejected("webhook-timestamp outside the tolerance");
  }
  const signed = Buffer.concat([Buffer.from(`${msgId}.${timestamp}.`), body]);
  const expected = SECRETS.map((s) => createHmac("sha256", secretKey(s)).update(signed).digest());
  for (const candidate of (headers["webhook-signature"] ?? "").split(" ")) {
    const [version, signature] = candidate.split(",", 2);
    if (version !== "v1" || !signature) continue;
    const given = Buffer.from(signature, "base64");
    if (expected.some((e) => e.length === given.length && timingSafeEqual(e, given))) return msgId;
  }
  throw new Rejected("no valid v1 signature");
}

// The verifier's public keys: cached, fetched again once when a kid is unknown.
let jwksCache = null;

async function fetchJwks() {
  try {
    const response = await fetch(`${VERIFIER_URL}/.well-known/jwks.json`, {
      redirect: "error",
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return (await response.json()).keys ?? [];
  } catch (error) {
    throw new JwksUnavailable(error.message);
  }
}

async function keyFor(kid) {
  let jwk = jwksCache?.find((k) => k.kid === kid);
  if (!jwk) {
    jwksCache = await fetchJwks();
    jwk = jwksCache.find((k) => k.kid === kid);
  }
  if (!jwk) throw new Rejected(`unknown kid ${JSON.stringify(kid)}`);
  return jwk;
}

const b64urlJson = (part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));

async function verifyVerdict(body, msgId) {
  const parts = body.toString("ascii").split(".");
  if (parts.length !== 3) throw new Rejected("not a compact JWS");
  let header, claims;
  try {
    header = b64urlJson(parts[0]);
    claims = b64urlJson(parts[1]);
  } catch {
    throw new Rejected("malformed JWT");
  }
  if (header.typ !== "verdict+jwt") throw new Rejected("not a verdict+jwt");
  const alg = ALGORITHMS[header.alg];
  if (!alg || header.crit) throw new Rejected(`alg ${header.alg} not allowed`);
  const jwk = await keyFor(header.kid);
  if (jwk.alg && jwk.alg !== header.alg) throw new Rejected("alg does not match the key");
  if (jwk.crv !== alg.crv) throw new Rejected("key curve does not match alg");
  let ok;
  try {
    const key = createPublicKey({ key: jwk, format: "jwk" });
    const input = Buffer.from(`${parts[0]}.${parts[1]}`, "ascii");
    const signature = Buffer.from(parts[2], "base64url");
    ok = verify(alg.hash, input, { key, dsaEncoding: "ieee-p1363" }, signature);
  } catch (error) {
    throw new Rejected(`cannot verify: ${error.message}`);
  }
  if (!ok) throw new Rejected("bad verdict signature");
  if (claims.iss !== ISSUER) throw new Rejected("verdict from another issuer");
  if (claims.jti !== msgId) throw new Rejected("webhook-id does not match the verdict jti");
  return claims;
}

// In memory for the example. A real receiver keeps seen webhook-ids in its database, in the same
// transaction as the business effect (e.g. a unique constraint on webhook_id), for at least 24 hours.
const seen = new Set();

function handle(msgId, claims) {
  if (seen.has(msgId)) return false;
  appendFileSync(OUTPUT, JSON.stringify(claims) + "\n");
  seen.add(msgId);
  return true;
}

function answer(res, status, message) {
  process.stderr.write(`${status} ${message}\n`);
  res.writeHead(status, { "content-length": "0" }).end();
}

async function onRequest(req, res) {
  if (req.method !== "POST" || req.url !== "/verdicts") return answer(res, 404, "not found");
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return answer(res, 413, "too large");
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  try {
    const msgId = checkSignature(req.headers, body);
    const claims = await verifyVerdict(body, msgId);
    if (handle(msgId, claims)) answer(res, 200, `accepted ${msgId} ${claims.txn} ${claims.result}`);
    else answer(res, 200, `duplicate ${msgId}`);
  } catch (error) {
    if (error instanceof Rejected) return answer(res, 400, error.message);
    if (error instanceof JwksUnavailable) return answer(res, 503, `JWKS unavailable: ${error.message}`);
    answer(res, 500, error.stack);
  }
}

const server = createServer((req, res) => void onRequest(req, res));
server.listen(PORT, HOST, () => {
  console.log(`listening on http://${HOST}:${server.address().port}/verdicts`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
